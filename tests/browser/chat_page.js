#!/usr/bin/env node
// Drives www/chat.html in headless Chromium against a running chat route (docs/CHAT.md).
//
//   node chat_page.js '{"url": "http://127.0.0.1:PORT/chat.html",
//                       "tokens": {"ann": "...", "bob": "...", "ann2": "..."},
//                       "screenshot": "/path/chat_page.png"}'
//
// ann and ann2 are tokens of the same user (sub "ann"), bob another user; the route must use
// duplicate_login = "kick_old". Scenario: Ann and Bob sign in (Ann through the form, Bob through
// chat.html#token=...), join room "lobby", see each other in the members panel and in presence
// events, exchange messages both ways (Ann's shown pending until acked), an unread count on
// world, a direct message; a second Ann (ann2) signs in, the first Ann is kicked (banner, close
// 4001) and the new one talks to Bob; then the first Ann reconnects and recovers, once each, the
// messages she missed. Screenshots: Bob's page at `screenshot`, the kicked page next to it
// (-kicked.png); on failure every page as -failed-NAME.png.
//
// Prints one JSON line ({"ok": true, ...observations}) and exits 0, or prints {"ok": false,
// "error": ...}, the reason on stderr, and exits 1. Every wait is explicit and bounded.
"use strict";

const { chromium } = require("playwright-core");

const WAIT_MS = 5000;    // one expectation
const LOAD_MS = 10000;   // a page load or the first sign-in
const TOTAL_MS = 90000;  // the whole scenario

const steps = [];
const obs = {};

function fail(msg) { throw new Error(msg); }

function step(name) { steps.push(name); }

function parseArgs() {
  let a;
  try {
    a = JSON.parse(process.argv[2] || "");
  } catch (err) {
    fail("argv[2] must be JSON: {url, tokens: {ann, bob, ann2}, screenshot} (" + err.message + ")");
  }
  for (const k of ["ann", "bob", "ann2"]) {
    if (!a.tokens || typeof a.tokens[k] !== "string" || !a.tokens[k]) fail("tokens." + k + " missing");
  }
  if (typeof a.url !== "string") fail("url missing");
  if (typeof a.screenshot !== "string") fail("screenshot missing");
  return a;
}

// What a page shows, for failure messages.
async function snapshot(page) {
  try {
    return await page.evaluate(() => {
      const t = (id) => (document.getElementById(id) || {}).textContent || "";
      const banner = document.getElementById("banner");
      return {
        state: t("state"), me: t("me"), channel: t("channel-title"),
        banner: banner && !banner.hidden ? t("banner").replace(/\s+/g, " ").trim() : null,
        channels: [...document.querySelectorAll("#channels li")].map((li) => li.textContent),
        members: [...document.querySelectorAll("#members li")].map((li) => li.dataset.user),
        messages: [...document.querySelectorAll("#messages li")].slice(-12)
          .map((li) => li.className + ": " + li.textContent.replace(/\s+/g, " ").trim()),
      };
    });
  } catch (err) {
    return "(no snapshot: " + err.message + ")";
  }
}

// Waits until fn(arg) is truthy in the page; fails with `what` and what the page shows.
async function until(p, what, fn, arg, timeout = WAIT_MS) {
  try {
    const h = await p.page.waitForFunction(fn, arg, { timeout, polling: 50 });
    return await h.jsonValue();
  } catch (err) {
    const why = /Timeout/i.test(err.message) ? "not within " + timeout + " ms" : err.message;
    fail(p.name + ": expected " + what + ", " + why + "\n  page: " + JSON.stringify(await snapshot(p.page)));
  }
}

// --- Page-side predicates (run in the browser) ---

function messagesWithText(text) {
  return [...document.querySelectorAll('#messages li[data-testid="message"]')]
    .filter((li) => li.querySelector(".text").textContent === text)
    .map((li) => ({ cls: li.className, who: li.querySelector(".who").textContent,
                    id: li.dataset.id || null, status: (li.querySelector(".status") || {}).textContent || "" }));
}

// --- Actions ---

async function openPage(browser, name, url, errors) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => errors.push(name + ": " + err.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(name + " console: " + m.text()); });
  // What the chat socket carries, counted by type; an `error` from the server fails the run.
  const p = { name, context, page, frames: {}, replays: 0 };
  page.on("websocket", (ws) => {
    ws.on("framereceived", (f) => {
      let m;
      try { m = JSON.parse(f.payload); } catch (_) { errors.push(name + ": a frame that is not JSON: " + f.payload); return; }
      p.frames[m.type] = (p.frames[m.type] || 0) + 1;
      if (m.replay === true) p.replays++;
      if (m.type === "error") errors.push(name + ": the server answered " + f.payload);
    });
  });
  await page.goto(url, { timeout: LOAD_MS });
  return p;
}

async function signInWithForm(p, token, displayName) {
  await p.page.fill("#token", token);
  await p.page.click("#login");
  await signedIn(p, displayName);
}

async function signedIn(p, displayName) {
  const state = await until(p, "state 'online' after signing in", () => {
    const st = document.getElementById("state").textContent;
    return st === "online" || st.startsWith("closed") ? st : false;
  }, null, LOAD_MS);
  if (state !== "online") fail(p.name + ": signing in failed: " + JSON.stringify(await snapshot(p.page)));
  await until(p, "#me to name " + displayName, (n) => document.getElementById("me").textContent.includes(n),
              displayName);
}

async function join(p, room) {
  await p.page.fill("#room-name", room);
  await p.page.click("#join");
  await until(p, "room " + room + " in the channel list and selected",
    (r) => !!document.querySelector('#channels li.selected[data-channel="' + r + '"]:not(.stale)') &&
           document.getElementById("channel-title").textContent.includes(r), room);
}

async function selectChannel(p, channel, kind) {
  await p.page.click('#channels li[data-kind="' + kind + '"][data-channel="' + channel + '"] button');
  await until(p, "channel " + channel + " selected",
    (a) => !!document.querySelector('#channels li.selected[data-kind="' + a[1] + '"][data-channel="' + a[0] + '"]'),
    [channel, kind]);
}

async function members(p, users, what) {
  return until(p, "members panel listing " + users.join(", ") + " (" + what + ")", (us) => {
    const have = [...document.querySelectorAll('#members li[data-testid="member"]')].map((li) => li.dataset.user);
    return us.every((u) => have.includes(u)) ? have : false;
  }, users);
}

// Sends `text` in the selected channel; checks it is shown greyed (pending) at once, then acked.
async function say(p, text) {
  await p.page.evaluate(() => {
    window.__sawPending = [];
    const mo = new MutationObserver((recs) => {
      for (const r of recs) for (const n of r.addedNodes) {
        if (n.nodeType === 1 && n.classList.contains("pending")) {
          window.__sawPending.push(n.querySelector(".text").textContent);
        }
      }
    });
    mo.observe(document.getElementById("messages"), { childList: true });
    window.__mo = mo;
  });
  await p.page.fill("#text", text);
  await p.page.click("#send");
  const acked = await until(p, "own message '" + text + "' acked (not pending, with an id)", (t) => {
    const m = [...document.querySelectorAll('#messages li.own[data-testid="message"]')]
      .filter((li) => li.querySelector(".text").textContent === t);
    return m.length === 1 && !m[0].classList.contains("pending") && m[0].dataset.id ? m[0].className : false;
  }, text);
  const sawPending = await p.page.evaluate((t) => { window.__mo.disconnect(); return window.__sawPending.includes(t); }, text);
  if (!sawPending) fail(p.name + ": message '" + text + "' was never shown as pending before its ack");
  return acked;
}

async function sees(p, text, fromName, what) {
  const got = await until(p, "the message '" + text + "' from " + fromName + " shown once (" + what + ")",
    (a) => {
      const m = [...document.querySelectorAll('#messages li[data-testid="message"]')]
        .filter((li) => li.querySelector(".text").textContent === a[0]);
      return m.length >= 1 && m[0].querySelector(".who").textContent === a[1] ? m.length : false;
    }, [text, fromName]);
  if (got !== 1) fail(p.name + ": '" + text + "' shown " + got + " times, expected once");
}

async function kicked(p) {
  await until(p, "the kicked banner ('logged in elsewhere') with close code 4001", () => {
    const b = document.getElementById("banner");
    return !b.hidden && b.textContent.includes("You were signed out: logged in elsewhere") &&
           b.textContent.includes("4001") && document.getElementById("state").dataset.closeCode === "4001";
  });
  return p.page.evaluate(() => ({
    banner: document.getElementById("banner-title").textContent,
    detail: document.getElementById("banner-detail").textContent,
    state: document.getElementById("state").textContent,
  }));
}

async function shoot(p, file) {
  await p.page.screenshot({ path: file, fullPage: true });
  return file;
}

// ---------------------------------------------------------------------------------------------

async function scenario(args, browser, pages, errors) {
  const ann = await openPage(browser, "ann", args.url, errors);
  pages.push(ann);
  await signInWithForm(ann, args.tokens.ann, "Ann");
  step("ann signed in with the form");

  const bob = await openPage(browser, "bob", args.url + "#token=" + encodeURIComponent(args.tokens.bob), errors);
  pages.push(bob);
  await signedIn(bob, "Bob");
  obs.subprotocol = await bob.page.evaluate("S.ws.protocol");
  if (obs.subprotocol !== "wsgate.chat") fail("bob: the server selected subprotocol '" + obs.subprotocol + "', not wsgate.chat");
  const hash = await bob.page.evaluate(() => location.hash);
  if (hash.includes("token")) fail("bob: the token is still in the address bar (" + hash + ")");
  step("bob signed in with #token=");

  await join(ann, "lobby");
  await members(ann, ["ann"], "after ann's join");
  await join(bob, "lobby");
  obs.bob_members = await members(bob, ["ann", "bob"], "bob's who after joining");
  await until(ann, "a presence event for bob's join", () =>
    !!document.querySelector('#messages li[data-testid="presence"][data-user="bob"]'));
  obs.ann_members = await members(ann, ["ann", "bob"], "kept live from presence");
  obs.presence = await ann.page.textContent('#messages li[data-testid="presence"][data-user="bob"]');
  step("both in lobby, members and presence shown");

  const hello = "Hello from Ann — ünïcødé ✓";
  obs.ann_own_class = await say(ann, hello);
  await sees(bob, hello, "Ann", "bob in lobby");
  const reply = "Hi Ann, Bob here <b>not bold</b>";
  await say(bob, reply);
  await sees(ann, reply, "Bob", "ann in lobby");
  const bold = await ann.page.evaluate(() => document.querySelectorAll("#messages b").length);
  if (bold !== 0) fail("ann: message text was parsed as HTML");
  step("lobby messages both ways, pending then acked");

  // Unread count: Bob speaks on world while Ann looks at lobby.
  await selectChannel(bob, "world", "world");
  await say(bob, "world hello from Bob");
  obs.ann_world_unread = await until(ann, "an unread count of 1 on world", () => {
    const u = document.querySelector('#channels li[data-channel="world"] [data-testid="unread"]');
    return u && u.textContent === "1" ? u.textContent : false;
  });
  await selectChannel(ann, "world", "world");
  await sees(ann, "world hello from Bob", "Bob", "ann on world");
  await until(ann, "the unread count cleared on select", () =>
    document.querySelector('#channels li[data-channel="world"] [data-testid="unread"]').textContent === "");
  step("unread count on world");

  // A direct message.
  await ann.page.fill("#dm-user", "bob");
  await ann.page.click("#dm-open");
  await until(ann, "a dm conversation with bob selected", () =>
    !!document.querySelector('#channels li.selected[data-kind="dm"][data-channel="bob"]'));
  await say(ann, "psst, Bob");
  await until(bob, "a dm conversation with ann, unread 1", () => {
    const li = document.querySelector('#channels li[data-kind="dm"][data-channel="ann"]');
    return li && li.querySelector('[data-testid="unread"]').textContent === "1";
  });
  await selectChannel(bob, "ann", "dm");
  await sees(bob, "psst, Bob", "Ann", "bob's dm with ann");
  obs.bob_dm = await bob.page.evaluate(() => document.querySelector('#messages li[data-testid="message"]').textContent);
  step("direct message");

  await selectChannel(ann, "lobby", "room");
  await selectChannel(bob, "lobby", "room");
  await members(bob, ["ann", "bob"], "bob back in lobby");

  // A second Ann signs in: the first one is kicked.
  const ann2 = await openPage(browser, "ann2", args.url, errors);
  pages.push(ann2);
  await signInWithForm(ann2, args.tokens.ann2, "Ann");
  obs.kicked_ann = await kicked(ann);
  const sendDisabled = await ann.page.evaluate(() => document.getElementById("send").disabled);
  if (!sendDisabled) fail("ann: the composer is still enabled after the kick");
  step("ann kicked by ann2 (4001)");

  await join(ann2, "lobby");
  await say(ann2, "Ann is back on another device");
  await sees(bob, "Ann is back on another device", "Ann", "bob after ann2's message");
  await members(ann2, ["ann", "bob"], "ann2 in lobby");
  await members(bob, ["ann", "bob"], "bob after ann's change of device");
  await say(bob, "while you were away");
  await sees(ann2, "while you were away", "Bob", "ann2");
  step("ann2 talks to bob");

  // The first Ann signs in again (kicking ann2) and recovers what she missed, each once.
  await ann.page.click("#reconnect");
  await signedIn(ann, "Ann");
  obs.kicked_ann2 = await kicked(ann2);
  obs.screenshot_kicked = await shoot(ann2, args.screenshot.replace(/\.png$/i, "") + "-kicked.png");
  await until(ann, "lobby joined again", () =>
    !!document.querySelector('#channels li.selected[data-channel="lobby"]:not(.stale)'));
  await sees(ann, "while you were away", "Bob", "replayed after reconnect");
  await sees(ann, "Ann is back on another device", "Ann", "own message from the other device, replayed");
  await sees(ann, hello, "Ann", "shown before, not duplicated");
  await sees(ann, reply, "Bob", "shown before, not duplicated");
  obs.ann_replayed = await ann.page.evaluate(() =>
    [...document.querySelectorAll('#messages li[data-testid="message"]')].map((li) => li.querySelector(".text").textContent));
  await say(ann, "recovered");
  await sees(bob, "recovered", "Ann", "bob after ann's reconnect");
  step("ann reconnected and recovered missed messages once");

  if (ann.replays < 2) fail("ann: " + ann.replays + " replayed messages after the reconnect, expected 2");
  obs.frames = Object.fromEntries([ann, bob, ann2].map((p) => [p.name, p.frames]));
  obs.screenshot = await shoot(bob, args.screenshot);
  if (errors.length) fail("page errors: " + errors.join("; "));
}

async function main() {
  const watchdog = setTimeout(() => {
    process.stdout.write(JSON.stringify({ ok: false, error: "scenario took over " + TOTAL_MS + " ms", steps }) + "\n");
    process.stderr.write("chat_page.js: FAILED: the scenario took over " + TOTAL_MS + " ms\n");
    process.exit(1);
  }, TOTAL_MS);
  let browser = null;
  const pages = [];
  const errors = [];
  const t0 = Date.now();
  try {
    const args = parseArgs();
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"], headless: true,
                                      timeout: LOAD_MS });
    try {
      await scenario(args, browser, pages, errors);
    } catch (err) {
      for (const p of pages) {
        try { await shoot(p, args.screenshot.replace(/\.png$/i, "") + "-failed-" + p.name + ".png"); } catch (_) { /* best effort */ }
      }
      throw err;
    }
    obs.ms = Date.now() - t0;
    process.stdout.write(JSON.stringify({ ok: true, steps, ...obs }) + "\n");
    await browser.close();
    clearTimeout(watchdog);
    process.exit(0);
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: err.message, steps, ...obs }) + "\n");
    process.stderr.write("chat_page.js: FAILED after '" + (steps[steps.length - 1] || "start") + "': " + err.message + "\n");
    if (browser) await browser.close().catch(() => {});
    clearTimeout(watchdog);
    process.exit(1);
  }
}

main();
