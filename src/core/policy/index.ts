export { evaluatePolicies } from "./evaluate-policies.ts";
export {
  listPolicyFiles,
  loadPolicies,
  loadPolicyFile,
  POLICY_FILE_BYTES_MAX,
  type PolicySource,
  parsePolicyText,
} from "./policy-file.ts";
export { formatPolicyProblem, PolicyLoadError, type PolicyProblem } from "./policy-load-error.ts";
export {
  DEFAULT_PRIORITY,
  DEFAULT_SEVERITY,
  FIELD_OPERATORS,
  type FieldCondition,
  type FieldOperator,
  type PolicyContext,
  type PolicyEffect,
  type PolicyEnforcement,
  type PolicyResult,
  type PolicyRule,
  type PolicySeverity,
  type RuleMatch,
  type TimeWindow,
} from "./policy-rule.ts";
export { POLICY_RECHECK_MS, PolicySet } from "./policy-set.ts";
export { findBacktrackingRisk } from "./regex-safety.ts";
