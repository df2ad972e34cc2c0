/**
 * The e2e atlas with a quadtree several levels deep (built in global-setup.ts): a small synthetic
 * dictionary with a tiny tile capacity, so that zooming in has tiles to fetch.
 */
export const TILED_ID = "tiled";
export const TILED_FEATURES = 500;
export const TILED_CAPACITY = 16;
