'use client';

import type { Phase } from '../useStreamStatus';
import { RecordingsList } from './RecordingsList';
import { ReplayBanner } from './ReplayBanner';
import { RewindOffer } from './RewindOffer';
import type { useReplay } from './useReplay';

type Replay = ReturnType<typeof useReplay>;
const isLive = (phase: Phase) => phase === 'live' || phase === 'reconnecting';

/** Above the player: what the link asked for when it cannot be shown, and the card of the recording playing. */
export function ReplayStage({ replay, phase }: { replay: Replay; phase: Phase }) {
  const { source } = replay;
  // The list's copy is the fresher one (a recording rewound while live has ended since, say).
  const rec = source ? (replay.recordings.list?.find((r) => r.id === source.rec.id) ?? source.rec) : null;
  return (
    <>
      {replay.requestError && (
        <div className="alert alert-error" role="alert" data-testid="replay-error">
          {replay.requestError}
        </div>
      )}
      {replay.error && (
        <div className="alert alert-error" role="alert" data-testid="replay-error">
          {replay.error}
        </div>
      )}
      {rec && <ReplayBanner rec={rec} rewinding={replay.rewinding} liveNow={isLive(phase)} playingDate={replay.playingDate} onBackToLive={replay.backToLive} />}
    </>
  );
}

/** Under the player: rewind while live, and the stream's past broadcasts. */
export function ReplayPanels({ replay, phase }: { replay: Replay; phase: Phase }) {
  const { recordings } = replay;
  return (
    <>
      {phase === 'live' && !replay.source && replay.current && <RewindOffer onRewind={replay.rewind} />}
      <RecordingsList list={recordings.list} hasMore={recordings.hasMore} playingId={replay.source?.rec.id ?? null} onPick={replay.play} onMore={recordings.loadMore} />
    </>
  );
}
