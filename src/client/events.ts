/**
 * Events between the page's scripts. The search box announces a choice with a cancelable event;
 * whoever can show the feature in place (the map) cancels it, otherwise the box navigates.
 */
export const SEARCH_SELECT_EVENT = "atlas:search-select";

export interface SearchSelectDetail {
  atlas: string;
  id: number;
}
