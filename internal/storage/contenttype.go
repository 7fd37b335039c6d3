package storage

import (
	"path"
	"strings"
)

// contentTypes maps lower-case extensions to the media types that browsers and players
// expect when they fetch outputs straight from a bucket. It is ours rather than the
// system's mime.types so that every machine stores the same types.
var contentTypes = map[string]string{
	// Playlists and manifests.
	".m3u8": "application/vnd.apple.mpegurl",
	".m3u":  "audio/x-mpegurl",
	".mpd":  "application/dash+xml",
	".ism":  "application/vnd.ms-sstr+xml",
	// Segments and containers.
	".m4s":  "video/iso.segment",
	".cmfv": "video/mp4",
	".cmfa": "audio/mp4",
	".ts":   "video/mp2t",
	".m2ts": "video/mp2t",
	".mts":  "video/mp2t",
	".mp4":  "video/mp4",
	".m4v":  "video/mp4",
	".mov":  "video/quicktime",
	".webm": "video/webm",
	".mkv":  "video/x-matroska",
	".mka":  "audio/x-matroska",
	".flv":  "video/x-flv",
	".mxf":  "application/mxf",
	".mpg":  "video/mpeg",
	".mpeg": "video/mpeg",
	".m2v":  "video/mpeg",
	".avi":  "video/x-msvideo",
	".3gp":  "video/3gpp",
	".ogv":  "video/ogg",
	// Audio.
	".m4a":  "audio/mp4",
	".aac":  "audio/aac",
	".ac3":  "audio/ac3",
	".eac3": "audio/eac3",
	".mp3":  "audio/mpeg",
	".mp2":  "audio/mpeg",
	".flac": "audio/flac",
	".ogg":  "audio/ogg",
	".oga":  "audio/ogg",
	".opus": "audio/ogg",
	".wav":  "audio/wav",
	".aif":  "audio/aiff",
	".aiff": "audio/aiff",
	// Pictures (thumbnails, posters, sprites).
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".png":  "image/png",
	".gif":  "image/gif",
	".webp": "image/webp",
	".avif": "image/avif",
	".bmp":  "image/bmp",
	// Captions and metadata.
	".vtt":  "text/vtt",
	".srt":  "application/x-subrip",
	".ttml": "application/ttml+xml",
	".dfxp": "application/ttml+xml",
	".scc":  "text/plain",
	".json": "application/json",
	".xml":  "application/xml",
	".txt":  "text/plain; charset=utf-8",
}

// ContentType returns the media type stored with key, chosen by its extension (case
// does not matter), or application/octet-stream for extensions it does not know.
func ContentType(key string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return ct
	}
	return "application/octet-stream"
}
