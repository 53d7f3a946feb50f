// `hitl <command>`: operate the model registry from a shell. This file is the command's entry
// point, the one place its process reads the environment.
import { runHitl } from './commands';

runHitl(process.argv.slice(2), {
  env: process.env,
  // `pnpm --filter @hitl/cli hitl` runs this in packages/cli; INIT_CWD is where the user typed
  // it, so `--file ./model.onnx` means the file they see.
  cwd: process.env.INIT_CWD ?? process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
