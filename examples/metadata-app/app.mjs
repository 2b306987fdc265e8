// The page: headless @clerk/clerk-js (window.Clerk, created by the bundle in index.html) against
// Roster, with plain DOM instead of React.

const clerk = window.Clerk;
const $ = (id) => document.getElementById(id);

function showError(err) {
  // ClerkAPIResponseError carries the server's errors[]; show the most useful text.
  const detail = err?.errors?.[0]?.longMessage ?? err?.errors?.[0]?.message ?? err?.message ?? String(err);
  $('error').textContent = detail;
  console.error(err);
}

function render() {
  const user = clerk.user;
  $('status').textContent = user ? `Signed in as ${user.primaryEmailAddress?.emailAddress ?? user.id}` : 'Signed out';
  $('signed-in').hidden = !user;
  $('signed-out').hidden = !!user;
  if (!user) return;
  $('user-id').textContent = user.id;
  $('email').textContent = user.primaryEmailAddress?.emailAddress ?? '';
  $('birthday').textContent = user.unsafeMetadata?.birthday ?? '';
  $('public').textContent = JSON.stringify(user.publicMetadata ?? {});
  $('unsafe').textContent = JSON.stringify(user.unsafeMetadata ?? {});
}

/** Runs a form/button action: clears the error, reports failures, re-renders. */
function action(fn) {
  return async (event) => {
    event?.preventDefault();
    $('error').textContent = '';
    document.body.dataset.busy = 'true';
    try {
      await fn();
    } catch (err) {
      showError(err);
    } finally {
      render();
      delete document.body.dataset.busy;
    }
  };
}

$('sign-up').addEventListener('submit', action(async () => {
  const signUp = await clerk.client.signUp.create({
    emailAddress: $('su-email').value,
    password: $('su-password').value,
    unsafeMetadata: { birthday: $('su-birthday').value, company: $('su-company').value },
  });
  if (signUp.status !== 'complete') throw new Error(`sign-up is ${signUp.status}: missing ${signUp.missingFields.join(', ')}`);
  await clerk.setActive({ session: signUp.createdSessionId });
}));

$('sign-in').addEventListener('submit', action(async () => {
  const signIn = await clerk.client.signIn.create({
    identifier: $('si-email').value,
    password: $('si-password').value,
    strategy: 'password',
  });
  if (signIn.status !== 'complete') throw new Error(`sign-in is ${signIn.status}`);
  await clerk.setActive({ session: signIn.createdSessionId });
}));

$('birthday-form').addEventListener('submit', action(async () => {
  // clerk-js 6 turns this into GET /me + PATCH /me/metadata with a merge patch.
  await clerk.user.update({ unsafeMetadata: { ...clerk.user.unsafeMetadata, birthday: $('new-birthday').value } });
}));

$('show-role').addEventListener('click', action(async () => {
  // The __session cookie goes along; the server verifies it with Roster's public key.
  const res = await fetch('/api/role');
  const body = await res.json();
  $('role').textContent = res.ok ? String(body.role) : `error: ${body.error}`;
}));

$('sign-out').addEventListener('click', action(async () => {
  await clerk.signOut();
  $('role').textContent = '?';
}));

try {
  await clerk.load({ telemetry: false });
  clerk.addListener(render);
  render();
} catch (err) {
  $('status').textContent = 'Clerk failed to load';
  showError(err);
} finally {
  document.body.dataset.ready = 'true';
}
