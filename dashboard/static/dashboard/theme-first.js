// Applies the dashboard's theme before the page is drawn: a classic script in <head>,
// loaded before the stylesheet, so it runs ahead of the first paint (a module would run
// after parsing, and a stored choice that differs from the system's would flash). The
// toggle and everything after the first paint: js/theme.js.
(function () {
  var stored = null;
  try {
    stored = localStorage.getItem("msgbuffer.theme"); // the key js/theme.js writes
  } catch (e) {
    // storage refused (privacy settings): follow the system
  }
  var theme = stored === "light" || stored === "dark" ? stored : null;
  if (!theme) theme = window.matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
  document.documentElement.dataset.theme = theme;
})();
