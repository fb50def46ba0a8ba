// Bundle one app for workerd: `node apps/bundle.mjs APP_DIR OUT_FILE PORT`.
//
// The bundle's entry imports the app (which calls listen(PORT)) and exports
// httpServerHandler({ port: PORT }) from cloudflare:node, so workerd hands every request
// to the server the app registered. Run by harness/apps/bundle.py with the pinned node.
//
// esbuild turns a CommonJS require() of a module it leaves external into a call that
// throws at load in an ES module ("Dynamic require of 'tty' is not supported"). The
// plugin below gives each such require() of a Node built-in (bare or node:) a small
// CommonJS stand-in that imports node:NAME and re-exports it, as wrangler does, so
// workerd resolves it at load like any import.
import { builtinModules } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import * as esbuild from 'esbuild';

const NAMESPACE = 'node-builtin-require';
const BUILTINS = new Set(builtinModules.filter((name) => !name.startsWith('_')));

/** `tty` and `node:tty` -> `tty`; null for anything that is not a Node built-in. */
export function builtinName(specifier) {
  const bare = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
  return BUILTINS.has(bare) || BUILTINS.has(bare.split('/')[0]) ? bare : null;
}

export function requireBuiltinsAsImports() {
  return {
    name: 'require-builtins-as-imports',
    setup(build) {
      build.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (args) => {
        const name = builtinName(args.path);
        if (name === null) return undefined;
        if (args.kind === 'require-call') return { path: name, namespace: NAMESPACE };
        return { path: `node:${name}`, external: true }; // imports: always the node: form
      });
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
        contents: `import * as ns from 'node:${args.path}';\n`
          + "module.exports = 'default' in ns ? ns.default : ns;\n",
        loader: 'js',
      }));
    },
  };
}

/** The worker entry: the app first (it listens), then the handler for that port. */
export function entrySource(port) {
  return "import { httpServerHandler } from 'cloudflare:node';\n"
    + "import './app.mjs';\n"
    + `export default httpServerHandler({ port: ${Number(port)} });\n`;
}

export async function bundle(appDir, outFile, port) {
  return esbuild.build({
    stdin: { contents: entrySource(port), resolveDir: path.resolve(appDir), sourcefile: 'worker-entry.mjs' },
    bundle: true,
    outfile: outFile,
    platform: 'node',
    format: 'esm',
    target: 'es2022',
    external: ['cloudflare:*'],
    plugins: [requireBuiltinsAsImports()],
    logLevel: 'warning',
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [appDir, outFile, port] = process.argv.slice(2);
  if (!appDir || !outFile || !port) {
    console.error('usage: node apps/bundle.mjs APP_DIR OUT_FILE PORT');
    process.exit(2);
  }
  try {
    await bundle(appDir, outFile, port);
  } catch (err) {
    console.error(err.message ?? String(err));
    process.exit(1);
  }
}
