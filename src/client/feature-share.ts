/**
 * Progressive enhancement of the feature page's share block: Copy buttons, and the per-feature
 * JSON download cut out of the shard. Without JavaScript these buttons are hidden (`needs-js`)
 * and the page's plain links and text remain.
 */
import type { FeatureRecord } from "../../contract/atlas.ts";

const status = document.querySelector<HTMLElement>("[data-share-status]");

function announce(message: string): void {
  if (status) status.textContent = message;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (insecure origin, denied permission): fall back to a selection copy.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

for (const button of document.querySelectorAll<HTMLButtonElement>("[data-copy]")) {
  const label = button.textContent ?? "";
  button.addEventListener("click", async () => {
    const source = document.querySelector<HTMLElement>(button.dataset["copy"] ?? "");
    if (!source) return;
    const text = source instanceof HTMLInputElement ? source.value : (source.textContent ?? "");
    const ok = await copyText(text);
    button.textContent = ok ? "Copied" : "Copy failed: select the text";
    announce(ok ? "Copied to the clipboard" : "Could not copy; select the text and copy it yourself");
    window.setTimeout(() => (button.textContent = label), 1800);
  });
}

for (const button of document.querySelectorAll<HTMLButtonElement>("[data-download-json]")) {
  button.addEventListener("click", async () => {
    const { shard = "", id = "", first = "", name = "feature.json" } = button.dataset;
    try {
      const res = await fetch(shard);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const data = (await res.json()) as { features: FeatureRecord[] };
      const record = data.features[Number(id) - Number(first)];
      if (!record || record.id !== Number(id)) throw new Error("feature not in its shard");
      const url = URL.createObjectURL(new Blob([`${JSON.stringify(record, null, 2)}\n`], { type: "application/json" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 1000);
      announce(`Saved ${name}`);
    } catch (error) {
      console.warn(error);
      announce("The download failed; use the shard link next to the button instead.");
    }
  });
}
