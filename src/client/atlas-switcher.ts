/**
 * The header's atlas switcher (src/components/AtlasSwitcher.astro) is a <details> of links and
 * works without this module. With it, Escape closes the open menu and puts focus back on its
 * button, and a click elsewhere closes it, as people expect of a menu.
 */
function setup(details: HTMLDetailsElement): void {
  const summary = details.querySelector("summary");
  details.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !details.open) return;
    // Handled here, so the map's own Escape (deselect a feature) does not fire as well.
    e.stopPropagation();
    details.open = false;
    summary?.focus();
  });
  document.addEventListener("click", (e) => {
    if (details.open && !details.contains(e.target as Node)) details.open = false;
  });
}

document.querySelectorAll<HTMLDetailsElement>("details[data-atlas-switcher]").forEach(setup);
