// Package panel is the agents' ticket panel and the supervisors' live wall
// in the browser: HTML pages from embedded templates, plain JavaScript and
// CSS files, and the live updates by Server-Sent Events.
//
// The pages hold no data: their scripts call the JSON API of tickets/api
// (and the agent, call, wall and callback routes mounted beside it) with the
// API's session cookie and CSRF token. The live updates come from ONE
// subscription per node to the ACD's events (every node's), fanned out by a
// Hub to the open panels: an agent receives the events of their own agent,
// a supervisor every event. A panel that does not read its events fast
// enough is dropped (its buffer is bounded, the send never waits) and
// reconnects; on every connect the script reloads the current state, so
// nothing depends on an event not lost.
//
// Every route checks the session and role on the server; a GET never
// changes anything; the pages are served with a Content-Security-Policy
// that allows no inline script or style, so all script is in files here.
package panel
