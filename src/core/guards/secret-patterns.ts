/**
 * Credentials recognised by the prefix their issuer puts on them (the convention gitleaks and
 * secretlint rules rely on). A prefix makes a match near-certain, so these need no context words.
 * The detector joins them into one regex (one pass over the text instead of one per issuer) and
 * checks the boundaries around a match itself.
 */
export const API_KEY_PATTERNS: readonly RegExp[] = [
  // OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-), Anthropic (sk-ant-api03-…), OpenRouter (sk-or-v1-…).
  /sk-[A-Za-z0-9_-]{20,}/,
  // AWS access key ids: long-term (AKIA), temporary (ASIA) and the rarer service prefixes.
  /(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}/,
  // GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens; fine-grained PATs.
  /gh[pousr]_[A-Za-z0-9]{36,255}/,
  /github_pat_[A-Za-z0-9_]{22,255}/,
  // GitLab personal, deploy, pipeline-trigger and runner tokens.
  /gl(?:pat|dt|ptt|rt)-[A-Za-z0-9_-]{20,}/,
  // Slack bot, user, app-level and config tokens, and incoming-webhook URLs.
  /xox[abeoprs]-[A-Za-z0-9-]{10,}/,
  /xapp-\d-[A-Za-z0-9-]{10,}/,
  /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{20,}/,
  // Google API keys and OAuth access tokens.
  /AIza[A-Za-z0-9_-]{35}/,
  /ya29\.[A-Za-z0-9_-]{20,}/,
  // Stripe secret and restricted keys, webhook signing secrets.
  /[rs]k_(?:live|test)_[A-Za-z0-9]{16,}/,
  /whsec_[A-Za-z0-9]{32,}/,
  // Hugging Face, npm, PyPI.
  /hf_[A-Za-z0-9]{30,}/,
  /npm_[A-Za-z0-9]{36}/,
  /pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}/,
  // Model providers with their own prefixes: Groq, xAI, Perplexity, Replicate.
  /gsk_[A-Za-z0-9]{40,}/,
  /xai-[A-Za-z0-9]{40,}/,
  /pplx-[A-Za-z0-9]{40,}/,
  /r8_[A-Za-z0-9]{30,}/,
  // SendGrid, Twilio API key SIDs, DigitalOcean, Shopify, Databricks, Supabase, Linear, Notion.
  /SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/,
  /SK[0-9a-f]{32}/,
  /do[opr]_v1_[a-f0-9]{64}/,
  /shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}/,
  /dapi[a-f0-9]{32}/,
  /sbp_[a-f0-9]{40}/,
  /lin_api_[A-Za-z0-9]{40}/,
  /ntn_[A-Za-z0-9]{40,}/,
];
