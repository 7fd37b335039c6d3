// Plays one stream and records what happened: how far it played, which
// renditions were shown (by picture height), the switch it asked for, and
// every error the player or the media element reported.
(function () {
  const q = new URLSearchParams(location.search);
  const engine = q.get('engine');
  const src = q.get('src');
  const video = document.getElementById('v');
  const r = { engine, src, errors: [], heights: [], levels: 0, switchFrom: -1, switchTo: -1, switched: false, played: 0, stalls: 0 };
  window.result = null;
  const finish = () => { if (!window.result) { r.played = video.currentTime; window.result = r; } };
  const error = (what) => { r.errors.push(what); };
  video.addEventListener('error', () => error('video element: ' + (video.error && video.error.message)));
  video.addEventListener('resize', () => r.heights.push(video.videoHeight));

  // switchTo asks the player for rendition n once, after two seconds.
  let ask = null;
  let sawTarget = false; // the player says it now plays the target
  video.addEventListener('timeupdate', () => {
    if (ask && !r.switched && r.switchTo < 0 && video.currentTime >= 2) ask();
    if (sawTarget && video.videoHeight === r.targetHeight) r.switched = true;
    if (video.currentTime >= 5.5 && r.switched) finish();
  });
  video.addEventListener('ended', finish);

  if (engine === 'hls') {
    if (!Hls.isSupported()) { error('hls.js: MSE not supported'); finish(); return; }
    const hls = new Hls({ debug: false, enableWorker: true });
    hls.on(Hls.Events.ERROR, (_, d) => {
      // hls.js reports, as non-fatal "errors", the stalls it recovers from
      // by itself: waiting for data (a loaded two-core machine), and jumping
      // a gap such as the two frames by which H.264 with B-frames starts
      // after its audio in MPEG-TS. They are counted, not errors; anything
      // else, and anything fatal, is an error.
      const recovered = [Hls.ErrorDetails.BUFFER_STALLED_ERROR, Hls.ErrorDetails.BUFFER_SEEK_OVER_HOLE, Hls.ErrorDetails.BUFFER_NUDGE_ON_STALL];
      if (!d.fatal && recovered.includes(d.details)) { r.stalls++; return; }
      error('hls.js ' + (d.fatal ? 'fatal ' : '') + d.type + ': ' + d.details);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
      r.levels = d.levels.length;
      video.play().catch((e) => error('play: ' + e));
    });
    ask = () => {
      r.switchFrom = hls.currentLevel;
      r.switchTo = (r.switchFrom + 1) % hls.levels.length;
      r.targetHeight = hls.levels[r.switchTo].height;
      // From the next segment on, as a viewer's choice would: manual from
      // now on, so ABR cannot switch back.
      hls.nextLevel = r.switchTo;
      hls.autoLevelCapping = -1;
    };
    hls.on(Hls.Events.FRAG_CHANGED, (_, d) => { if (r.switchTo >= 0 && d.frag.level === r.switchTo) sawTarget = true; });
    hls.loadSource(src);
    hls.attachMedia(video);
  } else {
    const player = dashjs.MediaPlayer().create();
    player.updateSettings({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_NONE }, streaming: { abr: { autoSwitchBitrate: { video: false, audio: false } } } });
    player.on(dashjs.MediaPlayer.events.ERROR, (e) => error('dash.js: ' + JSON.stringify(e.error || e)));
    player.on(dashjs.MediaPlayer.events.PLAYBACK_ERROR, (e) => error('dash.js playback: ' + JSON.stringify(e.error || e)));
    player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => {
      r.levels = player.getBitrateInfoListFor('video').length;
    });
    ask = () => {
      const list = player.getBitrateInfoListFor('video');
      r.switchFrom = player.getQualityFor('video');
      r.switchTo = (r.switchFrom + 1) % list.length;
      r.targetHeight = list[r.switchTo].height;
      player.setQualityFor('video', r.switchTo, true);
    };
    player.on(dashjs.MediaPlayer.events.QUALITY_CHANGE_RENDERED, (e) => {
      if (e.mediaType === 'video' && e.newQuality === r.switchTo) sawTarget = true;
    });
    player.initialize(video, src, true);
  }
})();
