/**
 * Events between the page's scripts. The search box announces a choice with a cancelable event;
 * whoever can show the feature in place (the map) cancels it, otherwise the box navigates.
 */
export const SEARCH_SELECT_EVENT = "atlas:search-select";

export interface SearchSelectDetail {
  atlas: string;
  id: number;
}

/** The search box's choice of a region: the map fits it, elsewhere the box opens its page. */
export const REGION_SELECT_EVENT = "atlas:region-select";

export interface RegionSelectDetail {
  atlas: string;
  slug: string;
}
