// The compiled side of bench/run.ts: loads bench/<name>.js and runs its default export.
const name = process.argv[2] ?? '';
const bench = (await import(`./${name}.js`)) as { default: (args: string[]) => Promise<void> | void };
await bench.default(process.argv.slice(3));
