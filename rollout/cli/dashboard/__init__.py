"""`rollout dashboard`: a web page of every release, live, with the CLI's commands.

- `guard`: who may do what — the address, the token, the CSRF token, Host and Origin;
- `source`: the store as the page sees it — one snapshot, taken again when something
  changed (polled);
- `server`: the aiohttp application — pages, fragments, server-sent events, actions;
- `actions`: what a button does (the CLI's command through `rollout.cli.intents`);
- `background`: a dashboard served from a thread (the demo, the tests);
- `static/`: the script and the stylesheet, served by the server (no CDN).

What the pages say is `rollout.views` (`board`, `charts`, `pages`: pure); what an
action writes is `rollout.cli.intents`, as the CLI's commands. The command itself is
`rollout.cli.dashboard_cmd`.
"""
