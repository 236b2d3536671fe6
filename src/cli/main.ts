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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
