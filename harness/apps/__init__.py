"""Real applications (apps/<name>/): Express, Koa, Fastify served on every runtime and
compared with Node's answer to the same requests.

- layout: where the apps live, their names and pinned framework versions
- install: `python -m harness apps install` (npm ci for the bundler and each app)
- bundle: esbuild bundles an app for workerd (apps/bundle.mjs, with its plugin)
- launch: how each runtime kind runs an app (node/bun/deno run app.mjs; workerd serves
  the bundle through httpServerHandler, workerd_app: its config and compatibility)
- serve: one app server per target per app, started once per run and reused
- request: an app behavior's request template -> the raw client's requests
- compare: the two comparison levels (status; notes) and the app verdict
- run: an app scenario on a target, with Node's answer to compare with
"""
