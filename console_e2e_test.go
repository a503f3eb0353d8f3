package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// consoleYAML turns the console on in a startServerYAML configuration.
const consoleYAML = "console:\n  enabled: true\n  session_ttl: 5m\n"

// screenshotDir is where the console tests copy their screenshots when
// TOKENGUARD_SCREENSHOTS=1: the README shows them from there, so every
// committed image comes from a run of these tests.
const screenshotDir = "docs/console"

// browser is a headless Chromium tab on a fresh profile, with everything
// the page writes to its console recorded.
type browser struct {
	t   *testing.T
	ctx context.Context
	// shots is where screenshots are written; copied to screenshotDir
	// when asked for.
	shots string

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
	dialogs  []string
}

// chromiumPath finds Debian's chromium, or skips the test loudly (fails
// under CI=true, where .ci/run has installed it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found on PATH (CI=true): the console's browser tests need it; install Debian's chromium")
	}
	t.Skip("SKIPPED LOUDLY: chromium not found on PATH; the admin console's browser tests did not run (Debian: apt-get install chromium)")
	return ""
}

// newBrowser starts headless Chromium for the test, on a user-data-dir of
// its own, at 1280×800. It is stopped when the test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Phones draw no scroll bar beside the page: the 390 px
		// screenshots are 390 px of page, as on the phone.
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, shots: t.TempDir()}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	// A dialog (alert, confirm) is never part of the console: one opened
	// means a script ran that should not have. It is dismissed, so that
	// the page goes on, and reported.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false}); err != nil {
				return
			}
		}
	}()
	b.do(chromedp.EmulateViewport(1280, 800))
	return b
}

// do runs actions, failing the test on error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// await waits until a JavaScript expression is true in the page.
func (b *browser) await(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		// A navigation (a redirect to the sign-in page, a link followed)
		// ends the page the poll ran in: poll the new one.
		if navigated(err) && time.Now().Before(deadline) {
			continue
		}
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("waiting for %s (%s): %v; the page reads:\n%s", what, expr, err, text)
	}
}

// navigated reports whether err is the end of the page a script ran in.
func navigated(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "navigated or closed") || strings.Contains(msg, "context was destroyed") || strings.Contains(msg, "Cannot find context")
}

// awaitPage waits until page (the body's data-page) has loaded its data.
func (b *browser) awaitPage(name string) {
	b.t.Helper()
	b.await("the "+name+" page", fmt.Sprintf(`document.body && document.body.dataset.page === %q && document.body.dataset.ready === "1"`, name))
}

// awaitMessage waits until the page's status line says text.
func (b *browser) awaitMessage(text string) {
	b.t.Helper()
	b.await("the message "+text, fmt.Sprintf(`document.querySelector("#message") && document.querySelector("#message").textContent === %q`, text))
}

// screenshot saves the whole page as name.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	file := name + ".png"
	if err := os.WriteFile(filepath.Join(b.shots, file), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if os.Getenv("TOKENGUARD_SCREENSHOTS") == "1" {
		if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(screenshotDir, file), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// fitsWidth fails the test when the page is wider than the window: at
// 390 px nothing may need a horizontal scroll but the tables' own boxes.
func (b *browser) fitsWidth(what string) {
	b.t.Helper()
	// clientWidth is the window's width less its scroll bar.
	if w := eval[int](b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); w > 0 {
		wide := eval[[]string](b, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth && !(e.parentElement && e.parentElement.closest(".scroll"))).map(e => e.tagName + "#" + e.id + "." + e.className)`)
		b.t.Errorf("%s: the page is %d px wider than the %d px window: %v", what, w, eval[int](b, `document.documentElement.clientWidth`), wide)
	}
}

// noConsoleErrors fails the test for any exception, console.error, browser
// log error (a CSP violation, a missing file) or dialog of the console's
// pages (under base/console/), except the refusals the tests provoke on
// purpose: the console API's 401 and 403 answers, which the browser logs
// as failed resource loads.
func (b *browser) noConsoleErrors(base string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.messages {
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
			continue
		}
		if !strings.HasPrefix(m.URL, base+"/console/") {
			// Another site's page, or the favicon Chromium asks for
			// when it shows a JSON answer: not the console's.
			continue
		}
		if m.Source == "network" && strings.Contains(m.URL, "/console/api/") &&
			(strings.Contains(m.Text, "status of 401") || strings.Contains(m.Text, "status of 403")) {
			continue
		}
		b.t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line+1)
	}
	for _, d := range b.dialogs {
		b.t.Errorf("a dialog opened: %q", d)
	}
}

// forget drops the console messages recorded so far.
func (b *browser) forget() {
	b.mu.Lock()
	b.messages = nil
	b.mu.Unlock()
}

// cookie returns the console's session cookie as the browser holds it.
func (b *browser) cookie(base string) *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/console/"}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "tokenguard_console" {
			return c
		}
	}
	return nil
}

// signInWithKeyboard signs in as a user would without a mouse: the client
// id field has the focus on arrival, Tab moves to the secret, Enter sends.
func (b *browser) signInWithKeyboard(id, secret string) {
	b.t.Helper()
	b.awaitPage("sign-in")
	if got := eval[string](b, `document.activeElement.id`); got != "client-id" {
		b.t.Errorf("focus on arrival at the sign-in page: #%s, want #client-id", got)
	}
	b.do(chromedp.KeyEvent(id), chromedp.KeyEvent("\t"))
	if got := eval[string](b, `document.activeElement.id`); got != "client-secret" {
		b.t.Errorf("focus after Tab: #%s, want #client-secret", got)
	}
	// The focused field shows it: an outline drawn by :focus-visible.
	if got := eval[string](b, `getComputedStyle(document.activeElement).outlineStyle`); got == "none" || got == "" {
		b.t.Errorf("the focused secret field has outline-style %q: focus is not visible", got)
	}
	b.do(chromedp.KeyEvent(secret), chromedp.KeyEvent("\r"))
}

// press activates the element matching sel from the keyboard: focus,
// then Enter. (A mouse click goes to coordinates, which a screenshot's
// change of the viewport can leave stale for a moment.)
func (b *browser) press(sel string) {
	b.t.Helper()
	b.do(chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent("\r"))
}

// tab presses Tab until the element matching sel has the focus, at most
// max times, failing the test if it never does.
func (b *browser) tab(sel string, max int) {
	b.t.Helper()
	for range max {
		b.do(chromedp.KeyEvent("\t"))
		if eval[bool](b, fmt.Sprintf(`document.activeElement === document.querySelector(%q)`, sel)) {
			return
		}
	}
	b.t.Fatalf("%s never got the focus in %d presses of Tab", sel, max)
}

// verifyCode asks /v1/verify about a token.
func verifyCode(t *testing.T, base, token string) int {
	t.Helper()
	return doRequest(t, base, http.MethodGet, "/v1/verify", "Bearer "+token, "", nil).status
}

// deviceSession logs subject in from a named device.
func deviceSession(t *testing.T, base, subject, device, ip, ua string) session {
	t.Helper()
	return createSession(t, base, fmt.Sprintf(`{"subject":%q,"device":{"name":%q,"ip":%q,"user_agent":%q}}`, subject, device, ip, ua))
}

// adminEvents lists the audit trail of our user subject, through the admin
// API.
func adminEvents(t *testing.T, base, subject string) []map[string]any {
	t.Helper()
	r := doRequest(t, base, http.MethodGet, "/v1/admin/events?subject="+url.QueryEscape(subject), adminAuth, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/admin/events = %d %s", r.status, r.body)
	}
	var out struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Events
}

// TestConsoleInChromium drives the admin console in headless Chromium
// against the real service on a real redis-server, as an admin would:
// every page and every action, with the keyboard where it matters, and
// checks each action's effect where it counts (/v1/verify, the audit
// trail), at 1280×800 and 390×844, with a screenshot of every page.
func TestConsoleInChromium(t *testing.T) {
	ts := startServerYAML(t, nil, consoleYAML)
	base := ts.base
	laptop := deviceSession(t, base, "alice", "laptop", "192.0.2.7", "Firefox/140")
	phone := deviceSession(t, base, "alice", "phone", "198.51.100.4", "MobileSafari/18")
	const xss = `<img src=x onerror=alert(1)>`
	deviceSession(t, base, xss, `<script>alert(2)</script>`, "203.0.113.9", `"><svg onload=alert(3)>`)
	for range 15 {
		if r := doRequest(t, base, http.MethodPut, "/v1/admin/users/mallory/ban", adminAuth, "application/json", []byte(`{"reason":"spam"}`)); r.status != http.StatusOK {
			t.Fatalf("ban mallory = %d %s", r.status, r.body)
		}
		if r := doRequest(t, base, http.MethodDelete, "/v1/admin/users/mallory/ban", adminAuth, "", nil); r.status != http.StatusNoContent {
			t.Fatalf("unban mallory = %d %s", r.status, r.body)
		}
	}

	b := newBrowser(t)

	// Signed out, the console sends the admin to the sign-in page.
	b.do(chromedp.Navigate(base + "/console/"))
	b.awaitPage("sign-in")
	b.screenshot("sign-in")

	// A wrong secret is refused, and the admin stays signed out.
	b.signInWithKeyboard("admin", "not-the-secret")
	b.awaitMessage("Wrong client id or secret.")
	if c := b.cookie(base); c != nil {
		t.Errorf("after a wrong secret the browser holds a console cookie")
	}

	// The right one, typed and sent with the keyboard alone.
	b.do(chromedp.Navigate(base + "/console/sign-in"))
	b.signInWithKeyboard("admin", "dev-admin-secret")
	b.awaitPage("dashboard")
	c := b.cookie(base)
	switch {
	case c == nil:
		t.Fatal("signed in, but the browser holds no console cookie")
	case !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/console/":
		t.Errorf("console cookie HttpOnly=%v SameSite=%q Path=%q, want HttpOnly, Strict, /console/", c.HTTPOnly, c.SameSite, c.Path)
	}
	if got := eval[string](b, `document.querySelector("#who").textContent`); got != "admin" {
		t.Errorf("signed in as %q, want admin", got)
	}

	// The dashboard: two readings make rates; the allowed decisions of
	// the tokens checked above are counted.
	if code := verifyCode(t, base, laptop.token); code != http.StatusOK {
		t.Fatalf("verify alice's laptop token = %d, want 200", code)
	}
	b.await("a second dashboard reading", `Number(document.body.dataset.readings) >= 2`)
	b.await("the allowed decisions counted", `[...document.querySelectorAll("#decisions tr")].some(r => r.cells[0].textContent === "allowed" && r.cells[2].textContent !== "0")`)
	if got := eval[string](b, `document.querySelector("#redis dd").textContent`); got != "answering" {
		t.Errorf("dashboard Redis health = %q, want answering", got)
	}
	if n := eval[int](b, `document.querySelectorAll("#shards li").length`); n != 16 {
		t.Errorf("dashboard lists the staleness of %d shards, want 16", n)
	}
	b.screenshot("dashboard")

	// Search a user, with the keyboard: Tab from the page's top to the
	// search field, type, Enter.
	b.do(chromedp.Navigate(base + "/console/users"))
	b.awaitPage("users")
	b.do(chromedp.KeyEvent("alice\r"))
	b.awaitMessage("1 user found.")
	if got := eval[string](b, `document.querySelector("#results tbody a").textContent`); got != "alice" {
		t.Errorf("search result %q, want alice", got)
	}
	b.screenshot("users")
	b.tab("#results tbody a", 20)
	b.do(chromedp.KeyEvent("\r"))
	b.awaitPage("user")

	// Alice's page: both sessions, with their devices.
	rows := eval[[][]string](b, `[...document.querySelectorAll("#sessions tbody tr")].map(r => [...r.cells].slice(0, 4).map(c => c.textContent))`)
	want := map[string]bool{"phone 198.51.100.4 MobileSafari/18 app": true, "laptop 192.0.2.7 Firefox/140 app": true}
	if len(rows) != 2 {
		t.Fatalf("alice's page lists %d sessions, want 2: %v", len(rows), rows)
	}
	for _, r := range rows {
		if !want[strings.Join(r, " ")] {
			t.Errorf("session row %q, want one of %v", r, want)
		}
	}
	b.screenshot("user")

	// End the laptop's session: its token is refused at once, the
	// phone's still accepted.
	b.press(fmt.Sprintf(`button.end-session[data-id=%q]`, laptop.sid))
	b.awaitMessage("Session ended.")
	if code := verifyCode(t, base, laptop.token); code != http.StatusUnauthorized {
		t.Errorf("verify the ended session's token = %d, want 401", code)
	}
	if code := verifyCode(t, base, phone.token); code != http.StatusOK {
		t.Errorf("verify the other session's token = %d, want 200", code)
	}
	if n := eval[int](b, `document.querySelectorAll("#sessions tbody tr").length`); n != 1 {
		t.Errorf("after ending one, the page lists %d sessions, want 1", n)
	}

	// Ban, behind a confirmation: Cancel changes nothing; Confirm bans.
	b.do(chromedp.SendKeys(chromedp.ID("ban-reason"), "spam"))
	b.press(`#ban button[type=submit]`)
	b.await("the confirmation", `document.querySelector("#confirm").open`)
	if got := eval[string](b, `document.activeElement.id`); got != "confirm-no" {
		t.Errorf("focus in the confirmation: #%s, want #confirm-no (the safe choice)", got)
	}
	b.do(chromedp.KeyEvent("\r"))
	b.await("the confirmation closed", `!document.querySelector("#confirm").open`)
	if code := verifyCode(t, base, phone.token); code != http.StatusOK {
		t.Errorf("verify after a cancelled ban = %d, want 200", code)
	}
	b.press(`#ban button[type=submit]`)
	b.await("the confirmation", `document.querySelector("#confirm").open`)
	b.screenshot("ban-confirmation")
	b.tab("#confirm-yes", 3)
	b.do(chromedp.KeyEvent("\r"))
	b.awaitMessage("User banned.")
	if code := verifyCode(t, base, phone.token); code != http.StatusForbidden {
		t.Errorf("verify the banned user's token = %d, want 403", code)
	}
	status := eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("#status dt")].map(dt => [dt.textContent, dt.nextElementSibling.textContent]))`)
	if status["Banned"] != "yes" || status["Reason"] != "spam" || status["Banned by"] != "admin" || !strings.HasPrefix(status["Cut-off"], "tokens issued up to ") {
		t.Errorf("status after the ban = %v, want banned for spam by admin, with a cut-off", status)
	}
	b.screenshot("user-banned")

	// Unban: a new session works again (what the ban revoked stays so).
	b.press("#unban")
	b.awaitMessage("Ban lifted.")
	again := deviceSession(t, base, "alice", "tablet", "192.0.2.9", "Chrome/140")
	if code := verifyCode(t, base, again.token); code != http.StatusOK {
		t.Errorf("verify a session opened after the unban = %d, want 200", code)
	}
	if got := eval[string](b, `document.querySelector("#status[data-banned]").dataset.banned`); got != "no" {
		t.Errorf("status after the unban: banned %q, want no", got)
	}

	// Log out everywhere, behind the same confirmation: the tablet's
	// token is refused at once.
	b.press("#logout-everywhere")
	b.await("the confirmation", `document.querySelector("#confirm").open`)
	b.tab("#confirm-yes", 3)
	b.do(chromedp.KeyEvent("\r"))
	b.awaitMessage("Logged out everywhere.")
	if code := verifyCode(t, base, again.token); code != http.StatusUnauthorized {
		t.Errorf("verify after logging out everywhere = %d, want 401", code)
	}

	// The audit trail shows each action with the admin client as actor,
	// in the user's page and in the trail.
	const actions = "admin_logout,unban,ban,admin_session_ended"
	userEvents := eval[[]string](b, `[...document.querySelectorAll("#user-events tbody tr")].map(r => r.cells[1].textContent + "/" + r.cells[2].textContent)`)
	if got, want := strings.Join(userEvents, ","), "admin_logout/admin,unban/admin,ban/admin,admin_session_ended/admin"; got != want {
		t.Errorf("alice's page lists the events %s, want %s", got, want)
	}
	b.do(chromedp.Navigate(base + "/console/events"))
	b.awaitPage("events")
	types := eval[[]string](b, `[...document.querySelectorAll("#events tbody tr")].filter(r => r.cells[2].textContent === "admin" && r.cells[3].textContent === "alice").map(r => r.cells[1].textContent)`)
	if got := strings.Join(types, ","); got != actions {
		t.Errorf("the trail's admin events of alice, newest first: %s, want %s", got, actions)
	}

	// A new event appears without a reload: alice logs out of a new
	// session herself.
	fresh := deviceSession(t, base, "alice", "laptop", "192.0.2.7", "Firefox/140")
	if r := doRequest(t, base, http.MethodPost, "/v1/logout", "Bearer "+fresh.token, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("logout = %d %s", r.status, r.body)
	}
	b.await("the new event on top", `(r => r && r.classList.contains("new") && r.cells[1].textContent === "logout" && r.cells[3].textContent === "alice")(document.querySelector("#events tbody tr"))`)
	b.screenshot("events")

	// Paging: mallory's 30 older events fill more than a page.
	last := eval[string](b, `document.querySelector("#events tbody tr:last-child").dataset.id`)
	b.press("#older")
	b.awaitPage("events")
	if first := eval[string](b, `document.querySelector("#events tbody tr").dataset.id`); first == last || !eval[bool](b, `!document.querySelector("#newest").hidden`) {
		t.Errorf("the older page starts with %s (the newest page ended with %s), Newest shown: %v", first, last, eval[bool](b, `!document.querySelector("#newest").hidden`))
	}
	b.press("#newest")
	b.awaitPage("events")
	if got := eval[string](b, `document.querySelector("#events tbody tr").cells[1].textContent`); got != "logout" {
		t.Errorf("back at the newest page, the first event is %s, want logout", got)
	}

	// Filter by kind, with the keyboard.
	b.do(chromedp.Focus(chromedp.ID("filter-type")), chromedp.SetValue(chromedp.ID("filter-type"), "ban"), chromedp.Focus(chromedp.ID("filter-subject")), chromedp.KeyEvent("alice\r"))
	b.await("the filtered trail", `location.search.includes("type=ban")`)
	b.awaitPage("events")
	kinds := eval[[]string](b, `[...document.querySelectorAll("#events tbody tr")].map(r => r.cells[1].textContent)`)
	if strings.Join(kinds, ",") != "ban" {
		t.Errorf("the trail filtered to kind ban lists %v, want one ban", kinds)
	}

	// A subject made of markup shows as text, everywhere it appears.
	b.do(chromedp.Navigate(base + "/console/users?subject=" + url.QueryEscape(xss)))
	b.awaitMessage("1 user found.")
	b.press("#results tbody a")
	b.awaitPage("user")
	if got := eval[string](b, `document.querySelector("#user-title").textContent`); got != xss {
		t.Errorf("the user page's title reads %q, want the subject %q as text", got, xss)
	}
	if n := eval[int](b, `document.querySelectorAll("main img, main script, main svg").length`); n != 0 {
		t.Errorf("the user page holds %d img/script/svg elements: markup from the data was parsed", n)
	}
	if got := eval[string](b, `document.querySelector("#sessions tbody td").textContent`); got != `<script>alert(2)</script>` {
		t.Errorf("the device name reads %q, want it as text", got)
	}
	b.screenshot("xss")

	// Readable at 390×844: every page fits the width, each one shot.
	b.do(chromedp.EmulateViewport(390, 844))
	for _, p := range []struct{ path, page string }{
		{"/console/", "dashboard"},
		{"/console/users?subject=alice", "users"},
		{"/console/user?subject=alice", "user"},
		{"/console/events", "events"},
	} {
		b.do(chromedp.Navigate(base + p.path))
		b.awaitPage(p.page)
		b.fitsWidth(p.page + " at 390×844")
		b.screenshot(p.page + "-mobile")
	}
	b.do(chromedp.EmulateViewport(1280, 800))

	// Sign out: the cookie the browser held opens nothing any more.
	old := b.cookie(base)
	b.do(chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("sign-out")))
	b.awaitPage("dashboard")
	b.press("#sign-out")
	b.awaitPage("sign-in")
	req, err := http.NewRequest(http.MethodGet, base+"/console/api/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: old.Name, Value: old.Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /console/api/me with the cookie of a signed-out session = %d, want 401", resp.StatusCode)
	}
	b.do(chromedp.Navigate(base + "/console/events"))
	b.awaitPage("sign-in")

	b.noConsoleErrors(base)
}

// TestConsoleRefusesACrossSitePost: a page of another site that posts to
// the console while the admin is signed in changes nothing. The browser
// does not send the SameSite=Strict cookie; and a request that carries a
// signed-in cookie but not the session's CSRF token, or comes from another
// origin, is refused too.
func TestConsoleRefusesACrossSitePost(t *testing.T) {
	ts := startServerYAML(t, nil, consoleYAML)
	base := ts.base
	victim := deviceSession(t, base, "bob", "laptop", "192.0.2.7", "Firefox/140")
	b := newBrowser(t)
	b.do(chromedp.Navigate(base + "/console/sign-in"))
	b.signInWithKeyboard("admin", "dev-admin-secret")
	b.awaitPage("dashboard")

	// Another site: localhost is not 127.0.0.1 to the browser.
	target := base + "/console/api/user/ban"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>evil</title><body><form id="f" method="post" action=%q enctype="text/plain"><input name='{"subject":"bob","reason":"x","a":"' value='"}'></form>
<script>
fetch(%q, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body: '{"subject":"bob","reason":"csrf"}'})
  .catch(() => {}).finally(() => { document.title = "sent"; });
</script></body>`, target, target)
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	b.noConsoleErrors(base)
	b.do(chromedp.Navigate(evilURL))
	b.await("the cross-site fetch", `document.title === "sent"`)
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("f").submit()`))
	b.await("the cross-site form post answered", `location.href.startsWith(`+fmt.Sprintf("%q", base)+`)`)
	if code := verifyCode(t, base, victim.token); code != http.StatusOK {
		t.Errorf("after the cross-site posts, bob's token = %d, want 200 (not banned)", code)
	}
	// What the other site's page logged (its refused requests) is no
	// error of the console's.
	b.forget()

	// The same posts with a signed-in cookie (as if SameSite failed),
	// without the token or from another origin.
	jar := signInHTTP(t, base)
	for _, c := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"without the CSRF token", map[string]string{"Origin": base}, http.StatusForbidden},
		{"with a wrong CSRF token", map[string]string{"Origin": base, "X-CSRF-Token": "guess"}, http.StatusForbidden},
		{"with the token, from another origin", map[string]string{"Origin": "http://evil.test", "X-CSRF-Token": jar.csrf}, http.StatusForbidden},
		{"with the token, marked cross-site by the browser", map[string]string{"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": jar.csrf}, http.StatusForbidden},
	} {
		if got := jar.post(t, "/console/api/user/ban", `{"subject":"bob","reason":"csrf"}`, c.headers); got.status != c.want {
			t.Errorf("a ban %s = %d %s, want %d", c.name, got.status, got.body, c.want)
		}
	}
	if code := verifyCode(t, base, victim.token); code != http.StatusOK {
		t.Errorf("after the refused posts, bob's token = %d, want 200", code)
	}
	for _, e := range adminEvents(t, base, "bob") {
		t.Errorf("bob's trail holds %v after refused posts, want nothing", e)
	}
	if got := jar.post(t, "/console/api/user/ban", `{"subject":"bob","reason":"spam"}`, map[string]string{"Origin": base, "X-CSRF-Token": jar.csrf}); got.status != http.StatusNoContent {
		t.Errorf("the same ban with the token, same origin = %d %s, want 204", got.status, got.body)
	}
	if code := verifyCode(t, base, victim.token); code != http.StatusForbidden {
		t.Errorf("after the ban, bob's token = %d, want 403", code)
	}
	b.noConsoleErrors(base)
}

// consoleClient is a console session held outside a browser.
type consoleClient struct {
	base, cookie, csrf string
}

// signInHTTP signs in to the console as the dev admin client.
func signInHTTP(t *testing.T, base string) consoleClient {
	t.Helper()
	r := doRequest(t, base, http.MethodPost, "/console/api/sign-in", "", "application/json", []byte(`{"client_id":"admin","client_secret":"dev-admin-secret"}`))
	if r.status != http.StatusOK {
		t.Fatalf("console sign-in = %d %s, want 200", r.status, r.body)
	}
	var me struct {
		CSRF string `json:"csrf"`
	}
	if err := json.Unmarshal(r.body, &me); err != nil {
		t.Fatal(err)
	}
	resp := http.Response{Header: r.header}
	for _, c := range resp.Cookies() {
		if c.Name == "tokenguard_console" {
			return consoleClient{base: base, cookie: c.Value, csrf: me.CSRF}
		}
	}
	t.Fatalf("console sign-in set no cookie: %v", r.header)
	return consoleClient{}
}

// post sends a JSON body to the console with the session's cookie and the
// headers given.
func (cc consoleClient) post(t *testing.T, path, body string, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, cc.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.AddCookie(&http.Cookie{Name: "tokenguard_console", Value: cc.cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}
