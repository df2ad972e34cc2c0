/**
 * Light/dark theme. The stored choice is applied by an inline script in <head> before first paint
 * (see Base.astro); this module only reads it and flips it. Without a stored choice the system
 * preference rules, live.
 */
export type Theme = "light" | "dark";

const STORAGE_KEY = "theme";
export const THEME_EVENT = "atlas:themechange";

const systemDark = (): boolean => window.matchMedia("(prefers-color-scheme: dark)").matches;

export function currentTheme(): Theme {
  const explicit = document.documentElement.dataset["theme"];
  if (explicit === "light" || explicit === "dark") return explicit;
  return systemDark() ? "dark" : "light";
}

function setTheme(theme: Theme): void {
  document.documentElement.dataset["theme"] = theme;
  try {
    localStorage.setItem(STORAGE_KEY, theme);
  } catch {
    // Private mode or disabled storage: the choice lasts for this page only.
  }
  window.dispatchEvent(new CustomEvent<Theme>(THEME_EVENT, { detail: theme }));
}

/** Call `listener` whenever the effective theme changes (toggle or system setting). */
export function onThemeChange(listener: (theme: Theme) => void): void {
  window.addEventListener(THEME_EVENT, () => listener(currentTheme()));
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => listener(currentTheme()));
}

export function initThemeToggle(): void {
  const buttons = document.querySelectorAll<HTMLButtonElement>("[data-theme-toggle]");
  const label = (): void => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    for (const b of buttons) b.setAttribute("aria-label", `Switch to ${next} theme`);
  };
  for (const button of buttons) {
    button.addEventListener("click", () => {
      setTheme(currentTheme() === "dark" ? "light" : "dark");
    });
  }
  onThemeChange(label);
  label();
}
