/** A user's policy rule that reads only the budget: keep 90,000 UT in reserve, refusing calls that would dip below. */
export const KEEP_90K = `- name: keep-a-reserve
  effect: deny
  enforcement: hard
  conditions:
    - field: budget_remaining_after
      operator: lt
      value: 90000
`;
