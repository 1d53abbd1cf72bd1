import { LiveList } from './components/LiveList';
import { RecentList } from './components/RecentList';

export default function HomePage() {
  return (
    <>
      <h1>Live now</h1>
      <p className="lead">Streams on this server, about a second behind the camera.</p>
      <LiveList />
      <section className="recent" aria-labelledby="recent-heading">
        <h2 id="recent-heading">Recent broadcasts</h2>
        <RecentList />
      </section>
    </>
  );
}
