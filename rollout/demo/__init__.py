"""`rollout demo`: the one-command tour of the local platform.

app    the demo service (VERSION, ERROR_RATE, DELAY_MS from env)
tour   runs a controller on the local platform in a temporary state dir, deploys
       the app, drives load through the proxy and releases new versions
"""
