"""The live call board: a pure projection of each call for supervisors, and the hub that hands
it to watchers without ever making a call wait (see `app.live.hub` and `app.web.live_api`)."""
