import type { Metadata } from 'next';
import { SignIn } from './SignIn';

export const metadata: Metadata = {
  title: 'Sign in',
  description: 'Sign in as the operator of this server to go live and manage streams.',
  // The sign-in link carries the token in its fragment: no referrer, no indexing.
  referrer: 'no-referrer',
  robots: { index: false, follow: false },
};

export default function SignInPage() {
  return (
    <>
      <h1>Sign in</h1>
      <p className="lead">Sign in as the operator of this server to go live and manage streams.</p>
      <SignIn />
    </>
  );
}
