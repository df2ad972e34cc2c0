/** The page-budget site that global-setup.ts builds beside the main one (see page-budget.spec.ts). */
import { GPT2_FIXTURE_ID } from "../../scripts/gpt2-fixture-atlas.ts";
import { HOSTILE_ID } from "../../scripts/make-hostile-dictionary.ts";

/** At most this many files in the whole site. */
export const BUDGET_FILES = 140;
/** The only features with static pages (PAGE_POLICY=list). */
export const BUDGET_PAGE_LIST = [`${GPT2_FIXTURE_ID}/0`, `${GPT2_FIXTURE_ID}/1`, `${HOSTILE_ID}/2`];
