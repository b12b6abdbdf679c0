package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// Helpers of the panel's real-browser tests (headless Chromium driven by
// chromedp): the browser, its tabs, signing in, waiting on the page.

// chromiumPath is Debian's chromium (scripts/services.sh tools installs it).
const chromiumPath = "/usr/bin/chromium"

// requireChromium skips under -short and fails when chromium is missing.
func requireChromium(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs chromium, which -short leaves out")
	}
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("chromium missing (%v): run scripts/services.sh tools", err)
	}
}

// browser starts a headless Chromium with a fresh profile; each context
// from it (newTab) is a separate browser context with its own cookies.
func browser(ctx context.Context, t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Two windows: the one behind must keep its timers (the counting-up
		// wait, the countdown) as a person's visible panel does.
		chromedp.Flag("disable-background-timer-throttling", true), chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1360, 1000),
	}
	alloc, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	return alloc
}

// newTab opens the first tab of the browser, or (from a tab) a tab in a
// new browser context with its own cookie jar.
func newTab(t *testing.T, alloc context.Context, first bool) context.Context {
	t.Helper()
	var ctx context.Context
	var cancel context.CancelFunc
	if first {
		ctx, cancel = chromedp.NewContext(alloc)
	} else {
		ctx, cancel = chromedp.NewContext(alloc, chromedp.WithNewBrowserContext())
	}
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// browse runs browser actions, failing the test with what.
func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS waits until expr is true in the page. It asks again every 50 ms,
// so a navigation meanwhile (a sign-in) does not end the wait.
func waitJS(t *testing.T, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	var lastErr error
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+expr+`)`))
		if err == nil && ok {
			return
		}
		lastErr = err
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText.slice(0, 1500) : document.body.innerText.slice(0, 500)`))
	t.Fatalf("%s: %s not true within %v (%v)\npage: %s", what, expr, d, lastErr, body)
}

// text reads the text of the element of id.
func text(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.getElementById(%q) || {}).textContent || ''`, id)))
	if err != nil {
		t.Fatalf("read #%s: %v", id, err)
	}
	return s
}

// screenshot saves the page as name in the test's artifact folder.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// login signs id in through the page's form.
func login(t *testing.T, ctx context.Context, base, id, password, page string) {
	t.Helper()
	browse(t, ctx, "sign in "+id,
		chromedp.Navigate(base+"/panel/"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#login-agent`), id),
		chromedp.SendKeys(chromedp.CSS(`#login-password`), password),
		chromedp.Click(chromedp.CSS(`#login-submit`)))
	waitJS(t, ctx, id+" signed in", `document.body.dataset.page === 'agent' && document.body.classList.contains('ready')`, 10*time.Second)
	if page != "" {
		browse(t, ctx, "open "+page, chromedp.Navigate(base+page))
		waitJS(t, ctx, "page "+page, `document.body.classList.contains('ready')`, 10*time.Second)
	}
}

// panelContract reports whether this build serves the agent, call and wall
// routes the panel is written against (GET /api/agent/state et al.).
func panelContract(t *testing.T, n *testNode, id string) bool {
	t.Helper()
	c := apiLogin(t, n, id, "secret-"+id)
	resp, err := c.http.Get("http://" + n.app.httpAddr + "/api/agent/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusNotFound
}

// badge is the expression true when the agent panel shows state s.
func badge(s string) string {
	return fmt.Sprintf(`document.getElementById('state-badge').dataset.state === %q`, s)
}

// addPanelUsers adds each person to the directory with the password
// "secret-<id>", as the panel tests sign in with.
func addPanelUsers(ctx context.Context, t *testing.T, n *testNode, people ...agents.Agent) {
	t.Helper()
	for _, a := range people {
		if a.StaffNumber == "" {
			a.StaffNumber = a.ID
		}
		if len(a.Categories) == 0 {
			a.Categories = configs.QueueCategories()
		}
		if err := n.app.dir.Add(ctx, a, "secret-"+a.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// shown is the expression true when the element of sel is in the page and
// laid out (not hidden, nor inside something hidden or a closed details).
func shown(sel string) string {
	return fmt.Sprintf(`((e) => !!e && e.getClientRects().length > 0)(document.querySelector(%q))`, sel)
}

// fieldShown is true when the form of formSel shows a message under its
// field name (whatever its wording, which the catalogue owns).
func fieldShown(formSel, name string) string {
	sel := fmt.Sprintf(`%s [data-error-for=%q]`, formSel, name)
	return fmt.Sprintf(`%s && document.querySelector(%q).textContent.trim().length > 0`, shown(sel), sel)
}

// msgShown is true when the form of formSel shows its message of kind
// ("ok" or "error").
func msgShown(formSel, kind string) string {
	sel := formSel + " [data-msg]"
	return fmt.Sprintf(`%s && document.querySelector(%q).classList.contains(%q) && document.querySelector(%q).textContent.trim().length > 0`,
		shown(sel), sel, kind, sel)
}

// clickShown clicks the element of sel in the page as soon as it is shown
// and enabled. Lists re-render on events, so the element is looked up and
// clicked in one go.
func clickShown(t *testing.T, ctx context.Context, what, sel string, d time.Duration) {
	t.Helper()
	waitJS(t, ctx, what, fmt.Sprintf(`(() => { const e = document.querySelector(%q);
		if (!e || e.disabled || e.getClientRects().length === 0) return false; e.click(); return true; })()`, sel), d)
}

// fill types each value into the field of form formSel by its name
// (select and date fields are set, with their change event); the field is
// emptied first.
func fill(t *testing.T, ctx context.Context, formSel string, fields ...[2]string) {
	t.Helper()
	for _, f := range fields {
		q := fmt.Sprintf(`%s [name=%q]`, formSel, f[0])
		kind := evalJS[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q) || {}).type || ''`, q))
		if kind == "" {
			t.Fatalf("field %s of %s: missing", f[0], formSel)
		}
		waitJS(t, ctx, "field "+f[0]+" of "+formSel+" shown", shown(q), 3*time.Second)
		typed := !strings.HasPrefix(kind, "select") && kind != "datetime-local"
		value := f[1]
		if typed {
			value = ""
		}
		set := fmt.Sprintf(`((e) => { e.value = %q; e.dispatchEvent(new Event('input', {bubbles: true}));
			e.dispatchEvent(new Event('change', {bubbles: true})); return e.value; })(document.querySelector(%q))`, value, q)
		if got := evalJS[string](t, ctx, set); got != value {
			t.Fatalf("field %s of %s: set %q, reads %q", f[0], formSel, value, got)
		}
		if typed {
			browse(t, ctx, "type "+f[0], chromedp.SendKeys(chromedp.CSS(q), f[1]))
		}
	}
}

// submitForm clicks the form's submit button, as a person does.
func submitForm(t *testing.T, ctx context.Context, formSel string) {
	t.Helper()
	browse(t, ctx, "submit "+formSel, chromedp.Click(chromedp.CSS(formSel+` button[type=submit]`)))
}

// evalJS evaluates expr in the page, awaiting a promise.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// scan reads one row of a query into dest, failing the test.
func scan(t *testing.T, n *testNode, query string, args []any, dest ...any) {
	t.Helper()
	if err := n.pool.QueryRow(context.Background(), query, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// count is a query's count(*).
func count(t *testing.T, n *testNode, query string, args ...any) int {
	t.Helper()
	var c int
	scan(t, n, query, args, &c)
	return c
}

// waitCount waits until count(query) is want.
func waitCount(t *testing.T, n *testNode, what string, want int, query string, args ...any) {
	t.Helper()
	got := -1
	if !poll.Within(5*time.Second, func() bool { got = count(t, n, query, args...); return got == want }) {
		t.Fatalf("%s: %d rows, want %d", what, got, want)
	}
}
