package presets

import "slices"

// The vocabularies below are Elastic Transcoder's (API 2012-09-25) plus the
// Extension* lists: codecs and containers it never had.

// Containers lists every container a preset may name.
var Containers = append([]string{"mp4", "ts", "webm", "mp3", "flac", "oga", "ogg", "fmp4", "mpg", "flv", "gif", "mxf", "wav", "mp2"}, ExtensionContainers...)

// ExtensionContainers are the containers Elastic Transcoder did not have.
var ExtensionContainers = []string{"mkv", "webp"}

// VideoCodecs lists every video codec a preset may name.
var VideoCodecs = append([]string{"H.264", "vp8", "vp9", "mpeg2", "gif"}, ExtensionVideoCodecs...)

// ExtensionVideoCodecs are the video codecs Elastic Transcoder did not have.
var ExtensionVideoCodecs = []string{"H.265", "AV1", "webp"}

// AudioCodecs lists every audio codec a preset may name.
var AudioCodecs = append([]string{"AAC", "vorbis", "mp3", "mp2", "pcm", "flac"}, ExtensionAudioCodecs...)

// ExtensionAudioCodecs are the audio codecs Elastic Transcoder did not have.
var ExtensionAudioCodecs = []string{"opus"}

// containerCodecs says which codecs each container carries. Elastic
// Transcoder's table, widened where a container really carries a newer
// codec (HEVC and AV1 in MP4 and CMAF, Opus in WebM and Ogg).
var containerCodecs = map[string]struct{ video, audio []string }{
	"mp4":  {[]string{"H.264", "H.265", "AV1"}, []string{"AAC", "mp3", "opus"}},
	"ts":   {[]string{"H.264", "H.265"}, []string{"AAC", "mp3"}},
	"fmp4": {[]string{"H.264", "H.265", "AV1"}, []string{"AAC"}},
	"flv":  {[]string{"H.264"}, []string{"AAC", "mp3"}},
	"webm": {[]string{"vp8", "vp9", "AV1"}, []string{"vorbis", "opus"}},
	"gif":  {[]string{"gif"}, nil},
	"webp": {[]string{"webp"}, nil},
	"mp3":  {nil, []string{"mp3"}},
	"mp2":  {nil, []string{"mp2"}},
	"flac": {nil, []string{"flac"}},
	"oga":  {nil, []string{"flac", "vorbis", "opus"}},
	"ogg":  {nil, []string{"flac", "vorbis", "opus"}},
	"wav":  {nil, []string{"pcm"}},
	"mpg":  {[]string{"mpeg2"}, []string{"mp2"}},
	"mxf":  {[]string{"mpeg2"}, []string{"pcm"}},
	"mkv":  {[]string{"H.264", "H.265", "AV1", "vp8", "vp9", "mpeg2"}, []string{"AAC", "mp3", "vorbis", "opus", "flac", "pcm"}},
}

// SegmentedContainers are the containers whose outputs are cut into
// segments for adaptive streaming.
var SegmentedContainers = []string{"ts", "fmp4"}

var (
	frameRates         = []string{"auto", "10", "15", "23.97", "24", "25", "29.97", "30", "50", "60"}
	maxFrameRates      = frameRates[1:]
	aspectRatios       = []string{"auto", "1:1", "4:3", "3:2", "16:9"}
	sizingPolicies     = []string{"Fit", "Fill", "Stretch", "Keep", "ShrinkToFit", "ShrinkToFill"}
	paddingPolicies    = []string{"Pad", "NoPad"}
	interlacedModes    = []string{"Progressive", "TopFirst", "BottomFirst", "Auto"}
	colorSpaceModes    = []string{"None", "Bt709toBt601", "Bt601toBt709", "Auto"}
	chromaSubsamplings = []string{"yuv420p", "yuv422p"}
	sampleRates        = []string{"auto", "22050", "32000", "44100", "48000", "96000", "192000"}
	channelCounts      = []string{"auto", "0", "1", "2"}
	packingModes       = []string{"SingleTrack", "OneChannelPerTrack", "OneChannelPerTrackWithMosTo8Tracks"}
	aacProfiles        = []string{"auto", "AAC-LC", "HE-AAC", "HE-AACv2"}
	thumbnailFormats   = []string{"jpg", "png"}
	wmSizingPolicies   = []string{"Fit", "Stretch", "ShrinkToFit"}
	wmHAligns          = []string{"Left", "Right", "Center"}
	wmVAligns          = []string{"Top", "Bottom", "Center"}
	wmTargets          = []string{"Content", "Frame"}
	booleans           = []string{"true", "false"}
)

// videoProfiles lists the profiles each video codec takes.
var videoProfiles = map[string][]string{
	"H.264": {"baseline", "main", "high"},
	"vp8":   {"0", "1", "2", "3"},
	"vp9":   {"0", "1", "2", "3"},
	"H.265": {"main", "main10"},
	"AV1":   {"main"},
}

// videoLevels lists the levels each video codec takes.
var videoLevels = map[string][]string{
	"H.264": {"1", "1b", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "3", "3.1", "3.2", "4", "4.1"},
	"H.265": {"1", "2", "2.1", "3", "3.1", "4", "4.1", "5", "5.1", "5.2", "6", "6.1", "6.2"},
}

// h264Level holds the H.264 limits (ITU-T H.264 Annex A, as Elastic
// Transcoder documents them) that a preset can break: frame size in luma
// samples, bit rate in kbit/s for baseline/main (high is 1.25×), and the
// decoded picture buffer in macroblocks, which bounds reference frames.
type h264Level struct {
	maxLuma  int
	maxBR    int
	maxDPBMb int
}

var h264Levels = map[string]h264Level{
	"1":   {25344, 64, 396},
	"1b":  {25344, 128, 396},
	"1.1": {101376, 192, 900},
	"1.2": {101376, 384, 2376},
	"1.3": {101376, 768, 2376},
	"2":   {101376, 2000, 2376},
	"2.1": {202752, 4000, 4752},
	"2.2": {414720, 4000, 8100},
	"3":   {414720, 10000, 8100},
	"3.1": {921600, 14000, 18000},
	"3.2": {1310720, 20000, 20480},
	"4":   {2097152, 20000, 32768},
	"4.1": {2097152, 50000, 32768},
}

func has(list []string, v string) bool { return slices.Contains(list, v) }
