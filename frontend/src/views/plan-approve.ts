/**
 * Approving a plan the airspace check refused: the fences it crosses at their legs, or the
 * plans it meets, and for those an admin's approval with an override reason (kept on the
 * plan). Used under a row of the plans list and on a plan's conflicts screen.
 */
import { airspace, airspaceProblem, type AirPlan, type AirspaceProblem, type PlanConflict } from '../api/airspace';
import { FormErrors } from '../form-errors';
import { session } from '../session';
import { h, toast } from '../ui';
import { conflictList, violationList } from './plan-airspace';

/** The API keeps at most this many characters of a reason. */
const MAX_REASON = 500;

/** An override reason and "Approve despite conflicts" (admins, submitted plans). */
export function overrideForm(p: AirPlan, conflicts: readonly PlanConflict[], done: (plan: AirPlan) => void, close?: () => void): HTMLFormElement {
  const form = h('form', { class: 'reject-form', novalidate: true, 'aria-label': `Approve plan ${p.name} despite conflicts`, 'data-testid': 'override-form' });
  const errors = new FormErrors(form, ['override_reason']);
  const reason = h('textarea', { id: `override-${p.id}`, name: 'override_reason', rows: 2, maxlength: MAX_REASON, placeholder: 'e.g. both pilots agreed on 10 m vertical separation', 'data-testid': 'override-reason' });
  const submit = h('button', { type: 'submit', class: 'btn btn-small btn-primary', 'data-testid': 'confirm-override' }, 'Approve despite conflicts');
  const extra = h('div', {});
  form.append(
    h('label', { for: reason.id }, `Why may "${p.name}" fly despite ${conflicts.length === 1 ? 'this conflict' : `these ${conflicts.length} conflicts`}? (kept on the plan)`),
    reason, errors.slot('override_reason'), extra, errors.general,
    h('div', { class: 'row' }, submit, close ? h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: close }, 'Keep it submitted') : null),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    extra.replaceChildren();
    if (!reason.value.trim()) {
      errors.clear();
      errors.slot('override_reason').textContent = 'Give the reason for the override.';
      reason.setAttribute('aria-invalid', 'true');
      reason.focus();
      return;
    }
    submit.disabled = true;
    try {
      const plan = await airspace.approve(p.id, reason.value.trim());
      toast(`Plan "${p.name}" is now ${plan.state} (override: ${reason.value.trim()})`);
      done(plan);
    } catch (err) {
      const air = airspaceProblem(err);
      errors.show(err, 'Not approved: ');
      if (air?.violations.length) extra.replaceChildren(violationList(air.violations));
      submit.disabled = false;
    }
  });
  return form;
}

/** What an airspace refusal of `p` says, with the override form when other plans are the reason. */
export function airspaceNotice(p: AirPlan, problem: AirspaceProblem, done: (plan: AirPlan) => void, close?: () => void): HTMLElement {
  const overridable = problem.code === 'plan_conflict' && problem.conflicts.length > 0 && session.can('admin') && p.state === 'submitted';
  return h('div', { class: 'airspace-notice', 'data-testid': 'approve-problem' },
    h('p', { class: 'field-error' }, problem.code === 'plan_conflict' ? `Not approved: "${p.name}" meets other plans.`
      : problem.code === 'authorization_required' ? `Not approved: "${p.name}" crosses restricted airspace without an authorization reference.`
        : `Not approved: "${p.name}" crosses prohibited airspace.`),
    problem.violations.length ? violationList(problem.violations) : null,
    problem.conflicts.length ? conflictList(problem.conflicts) : null,
    h('p', {}, h('a', { href: `/plans/${p.id}/conflicts`, 'data-link': true }, 'Show them on the map')),
    overridable ? overrideForm(p, problem.conflicts, done, close) : close ? h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: close }, 'Close') : null);
}
