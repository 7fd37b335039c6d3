// Package ffmpeg is the only place in Transcoder that starts ffmpeg and ffprobe processes.
//
// It finds the binaries ([Locate]), inspects inputs ([Tools.Probe]) and runs encodes
// ([Tools.Run]) with progress reporting, cancellation that lets ffmpeg finalise its
// files, a watchdog for hung encodes, and errors that carry the tail of ffmpeg's stderr.
//
// Every input handed to ffmpeg must be preceded by [InputOptions], which restrict the
// protocols and demuxers ffmpeg may use, so that a crafted upload (say, an HLS playlist
// or an ffconcat list renamed to .mp4) cannot make ffmpeg read other local files or
// reach the network. [Tools.Probe] applies the same restrictions itself.
//
// The package targets ffmpeg 5.1 and later and must not rely on newer features.
package ffmpeg
