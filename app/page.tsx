import { LiveList } from './components/LiveList';

export default function HomePage() {
  return (
    <>
      <h1>Live now</h1>
      <p className="lead">Streams on this server, about a second behind the camera.</p>
      <LiveList />
    </>
  );
}
