import { describe, expect, it } from "vitest";
import { prefetchText } from "../../src/client/search-box.ts";

describe("prefetchText: what the search box fetches ahead of its debounce", () => {
  it("leaves a word still being typed to the debounced query", () => {
    expect(prefetchText("", "h")).toBe("");
    expect(prefetchText("h", "hu")).toBe("");
    expect(prefetchText("hurricane", "hurricane ")).toBe("hurricane ");
    expect(prefetchText("hurricane ", "hurricane w")).toBe("hurricane ");
    expect(prefetchText("hurricane wa", "hurricane war")).toBe("hurricane ");
  });

  it("takes the whole text when more than one character arrived at once", () => {
    expect(prefetchText("", "hurricane warning")).toBe("hurricane warning");
    expect(prefetchText("hurricane ", "hurricane warning")).toBe("hurricane warning");
  });

  it("takes the finished words when text is deleted", () => {
    expect(prefetchText("hurricane warning", "hurricane warnin")).toBe("hurricane ");
    expect(prefetchText("hurricane warning", "")).toBe("");
  });
});
