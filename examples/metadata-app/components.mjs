// Clerk's prebuilt components against Roster: /components/sign-up, /components/sign-in and
// /components/user-button mount <SignUp/>, <SignIn/> and <UserButton/> (whose menu opens
// <UserProfile/>). #status says who is signed in.

const clerk = window.Clerk;
const $ = (id) => document.getElementById(id);
const which = location.pathname.split('/')[2] || 'sign-in';

try {
  await clerk.load({
    telemetry: false,
    ui: { ClerkUI: window.__internal_ClerkUICtor },
    signInUrl: '/components/sign-in',
    signUpUrl: '/components/sign-up',
    signInFallbackRedirectUrl: '/components/user-button',
    signUpFallbackRedirectUrl: '/components/user-button',
    afterSignOutUrl: '/components/sign-in',
  });
  const render = () => {
    const user = clerk.user;
    $('status').textContent = user
      ? `Signed in as ${user.primaryEmailAddress?.emailAddress} (${[user.firstName, user.lastName].filter(Boolean).join(' ')})`
      : 'Signed out';
  };
  clerk.addListener(render);
  render();
  const root = $('root');
  if (which === 'sign-up') clerk.mountSignUp(root, { routing: 'hash' });
  else if (which === 'user-button') clerk.mountUserButton(root, { userProfileMode: 'modal' });
  else clerk.mountSignIn(root, { routing: 'hash' });
} catch (err) {
  $('status').textContent = `Clerk failed to load: ${err.message}`;
  console.error(err);
} finally {
  document.body.dataset.ready = 'true';
}
