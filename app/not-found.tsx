import Link from 'next/link';

export default function NotFound() {
  return (
    <div className="panel empty">
      <h1>Not found</h1>
      <p>There is nothing at this address. The stream may have ended, or the link is mistyped.</p>
      <Link href="/" className="button button-primary">
        See what is live
      </Link>
    </div>
  );
}
