/**
 * Entry point of the binary. Keeps start-up cheap: `--version` is answered before yargs or any
 * heavy module loads (everything else is imported lazily), because Helm users run the plugin in
 * shells and CI loops. Only this file calls process.exit.
 */
import pkg from '../../package.json' with { type: 'json' };

async function main(argv: string[]): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === 'version')) {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const { runCli } = await import('./app.js');
  return runCli(argv, pkg.version);
}

/**
 * Exits once stdout and stderr have taken everything written (a pipe is asynchronous on macOS), not
 * when the event loop has drained: every command has awaited its work, closed its sessions and
 * stopped its children by then, and Node's teardown of the heap after a drained loop was ~5 ms of
 * every run (issue 12). A timer left behind (a journal write the run's close has already made) no
 * longer keeps the process.
 */
function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const flushed = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
}

main(process.argv.slice(2)).then(exitWhenFlushed, (err: unknown) => {
  process.stderr.write(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  exitWhenFlushed(1);
});
