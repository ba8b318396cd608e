// rollout dashboard: live updates and in-place actions. No library, no build step.
// The server renders everything (HTML and SVG); this script only
//  - listens to /events (server-sent events) and, on each `change` or `tick`, fetches
//    the page's content again (?fragment=1) and swaps the fragments ([data-frag])
//    that differ — or the whole content when the set of fragments changed;
//  - posts the action forms with fetch and shows the CLI's message in #flash;
//    abort and undo ask the server's question first and post again with confirm=yes.
// Without it the page still works: forms post and answer with a page.
"use strict";
(() => {
  const content = document.getElementById("content");
  const flash = document.getElementById("flash");
  const live = document.getElementById("live");
  let busy = false;
  let again = false;

  function say(text, ok) {
    flash.textContent = text;
    flash.className = "flash " + (ok ? "ok" : "bad");
  }

  function ids(root) {
    return Array.from(root.querySelectorAll("[data-frag]"), (e) => e.dataset.frag);
  }

  function swap(fresh) {
    if (content.querySelector(".pending")) return; // a question is open: wait
    if (ids(content).join("\n") !== ids(fresh).join("\n")) {
      content.replaceChildren(...Array.from(fresh.childNodes));
      return;
    }
    for (const el of Array.from(fresh.querySelectorAll("[data-frag]"))) {
      const old = content.querySelector(`[data-frag="${CSS.escape(el.dataset.frag)}"]`);
      if (!old) continue;
      // what the reader opened stays open
      const opened = Array.from(old.querySelectorAll("details"), (d) => d.open);
      el.querySelectorAll("details").forEach((d, i) => { d.open = Boolean(opened[i]); });
      if (old.outerHTML !== el.outerHTML) old.replaceWith(el);
    }
  }

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const url = new URL(location.href);
      url.searchParams.set("fragment", "1");
      const answer = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (answer.ok) {
        const tpl = document.createElement("template");
        tpl.innerHTML = await answer.text();
        swap(tpl.content);
      }
    } catch (err) {
      live.classList.remove("on");
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  async function post(form, extra) {
    const body = new URLSearchParams(new FormData(form));
    for (const [k, v] of Object.entries(extra || {})) body.set(k, v);
    const answer = await fetch(form.action, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    return answer.json();
  }

  function ask(form, question) {
    const box = document.createElement("div");
    box.className = "confirm pending";
    const text = document.createElement("p");
    text.textContent = question;
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "btn danger";
    yes.textContent = "Yes, do it";
    yes.dataset.confirm = form.querySelector("button").dataset.action;
    const no = document.createElement("button");
    no.type = "button";
    no.className = "btn";
    no.textContent = "No";
    box.append(text, yes, " ", no);
    form.after(box);
    no.addEventListener("click", () => box.remove());
    yes.addEventListener("click", async () => {
      box.remove();
      await act(form, { confirm: "yes" });
    });
  }

  async function act(form, extra) {
    form.classList.add("pending");
    try {
      const answer = await post(form, extra);
      if (answer.confirm) {
        ask(form, answer.confirm);
        return;
      }
      say(answer.message, answer.ok);
    } catch (err) {
      say("the dashboard did not answer: " + err, false);
    } finally {
      form.classList.remove("pending");
    }
    refresh();
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target.closest("form.action");
    if (!form) return;
    ev.preventDefault();
    act(form);
  });

  if (document.body.hasAttribute("data-live") && window.EventSource) {
    const events = new EventSource("/events");
    events.addEventListener("hello", () => live.classList.add("on"));
    events.addEventListener("change", refresh);
    events.addEventListener("tick", refresh);
    events.onerror = () => live.classList.remove("on");
  }
})();
