// The theme toggle. theme-first.js has already set <html data-theme> before the first
// paint, from the remembered choice or else prefers-color-scheme; this module keeps the
// button in step, remembers a choice made with it, and follows the system's scheme for
// as long as no choice was made.

export const STORAGE_KEY = "msgbuffer.theme"; // theme-first.js reads the same key

const root = document.documentElement;
const systemLight = window.matchMedia("(prefers-color-scheme: light)");

function remembered() {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return value === "light" || value === "dark" ? value : null;
  } catch {
    return null;
  }
}

function remember(theme) {
  try {
    localStorage.setItem(STORAGE_KEY, theme);
  } catch {
    // storage refused: the choice lasts as long as the page
  }
}

function apply(theme, button) {
  root.dataset.theme = theme;
  if (button) button.setAttribute("aria-pressed", String(theme === "dark"));
}

const button = document.getElementById("theme-toggle");
apply(remembered() || (systemLight.matches ? "light" : "dark"), button);

systemLight.addEventListener("change", (event) => {
  if (!remembered()) apply(event.matches ? "light" : "dark", button);
});

button?.addEventListener("click", () => {
  const theme = root.dataset.theme === "dark" ? "light" : "dark";
  remember(theme);
  apply(theme, button);
});
