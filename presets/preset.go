// Package presets defines the Preset — how one rendition is encoded — in the
// shape Amazon Elastic Transcoder used, reads and writes it as YAML (for
// people) and as Elastic Transcoder's JSON (for its API), validates it, and
// holds the built-in system presets.
//
// Every setting is kept as the string Elastic Transcoder sent ("2400",
// "auto", "29.97"), so that a preset read from either form is written back
// exactly as it came; the encoder parses the values it needs.
package presets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Preset types, as Elastic Transcoder spells them.
const (
	TypeSystem = "System"
	TypeCustom = "Custom"
)

// Preset is one rendition's encoding settings: container, video, audio and
// thumbnails. The YAML keys are lower_snake; the JSON keys are Elastic
// Transcoder's PascalCase.
type Preset struct {
	ID          string      `yaml:"id,omitempty" json:"Id,omitempty"`
	Arn         string      `yaml:"arn,omitempty" json:"Arn,omitempty"`
	Name        string      `yaml:"name,omitempty" json:"Name,omitempty"`
	Description string      `yaml:"description,omitempty" json:"Description,omitempty"`
	Container   string      `yaml:"container,omitempty" json:"Container,omitempty"`
	Type        string      `yaml:"type,omitempty" json:"Type,omitempty"`
	Video       *Video      `yaml:"video,omitempty" json:"Video,omitempty"`
	Audio       *Audio      `yaml:"audio,omitempty" json:"Audio,omitempty"`
	Thumbnails  *Thumbnails `yaml:"thumbnails,omitempty" json:"Thumbnails,omitempty"`

	// Aliases are short names that find the preset ("generic-720p").
	// Extension: Elastic Transcoder had none.
	Aliases []string `yaml:"aliases,omitempty" json:"Aliases,omitempty"`
	// Ladder makes the preset an adaptive-streaming ladder: each entry
	// names another preset (a rung) by ID or alias, and a job using the
	// ladder produces one output per rung. A ladder has no Video or Audio
	// of its own. Extension: Elastic Transcoder had none.
	Ladder []string `yaml:"ladder,omitempty" json:"Ladder,omitempty"`
}

// Video holds a preset's video settings.
type Video struct {
	Codec            string             `yaml:"codec,omitempty" json:"Codec,omitempty"`
	CodecOptions     *VideoCodecOptions `yaml:"codec_options,omitempty" json:"CodecOptions,omitempty"`
	KeyframesMaxDist string             `yaml:"keyframes_max_dist,omitempty" json:"KeyframesMaxDist,omitempty"`
	FixedGOP         string             `yaml:"fixed_gop,omitempty" json:"FixedGOP,omitempty"`
	BitRate          string             `yaml:"bit_rate,omitempty" json:"BitRate,omitempty"`
	FrameRate        string             `yaml:"frame_rate,omitempty" json:"FrameRate,omitempty"`
	MaxFrameRate     string             `yaml:"max_frame_rate,omitempty" json:"MaxFrameRate,omitempty"`
	// Resolution and AspectRatio are Elastic Transcoder's legacy sizing;
	// they exclude MaxWidth, MaxHeight, SizingPolicy, PaddingPolicy and
	// DisplayAspectRatio.
	Resolution         string      `yaml:"resolution,omitempty" json:"Resolution,omitempty"`
	AspectRatio        string      `yaml:"aspect_ratio,omitempty" json:"AspectRatio,omitempty"`
	MaxWidth           string      `yaml:"max_width,omitempty" json:"MaxWidth,omitempty"`
	MaxHeight          string      `yaml:"max_height,omitempty" json:"MaxHeight,omitempty"`
	DisplayAspectRatio string      `yaml:"display_aspect_ratio,omitempty" json:"DisplayAspectRatio,omitempty"`
	SizingPolicy       string      `yaml:"sizing_policy,omitempty" json:"SizingPolicy,omitempty"`
	PaddingPolicy      string      `yaml:"padding_policy,omitempty" json:"PaddingPolicy,omitempty"`
	Watermarks         []Watermark `yaml:"watermarks,omitempty" json:"Watermarks,omitempty"`
}

// VideoCodecOptions are Elastic Transcoder's Video.CodecOptions. In its
// JSON they are a string map; the keys it accepts are the fields here.
type VideoCodecOptions struct {
	Profile                  string `yaml:"profile,omitempty" json:"Profile,omitempty"`
	Level                    string `yaml:"level,omitempty" json:"Level,omitempty"`
	MaxReferenceFrames       string `yaml:"max_reference_frames,omitempty" json:"MaxReferenceFrames,omitempty"`
	MaxBitRate               string `yaml:"max_bit_rate,omitempty" json:"MaxBitRate,omitempty"`
	BufferSize               string `yaml:"buffer_size,omitempty" json:"BufferSize,omitempty"`
	InterlacedMode           string `yaml:"interlaced_mode,omitempty" json:"InterlacedMode,omitempty"`
	ColorSpaceConversionMode string `yaml:"color_space_conversion_mode,omitempty" json:"ColorSpaceConversionMode,omitempty"`
	ChromaSubsampling        string `yaml:"chroma_subsampling,omitempty" json:"ChromaSubsampling,omitempty"`
	LoopCount                string `yaml:"loop_count,omitempty" json:"LoopCount,omitempty"`
}

// Watermark is a slot in which a job may place an image over the video.
type Watermark struct {
	ID               string `yaml:"id,omitempty" json:"Id,omitempty"`
	MaxWidth         string `yaml:"max_width,omitempty" json:"MaxWidth,omitempty"`
	MaxHeight        string `yaml:"max_height,omitempty" json:"MaxHeight,omitempty"`
	SizingPolicy     string `yaml:"sizing_policy,omitempty" json:"SizingPolicy,omitempty"`
	HorizontalAlign  string `yaml:"horizontal_align,omitempty" json:"HorizontalAlign,omitempty"`
	HorizontalOffset string `yaml:"horizontal_offset,omitempty" json:"HorizontalOffset,omitempty"`
	VerticalAlign    string `yaml:"vertical_align,omitempty" json:"VerticalAlign,omitempty"`
	VerticalOffset   string `yaml:"vertical_offset,omitempty" json:"VerticalOffset,omitempty"`
	Opacity          string `yaml:"opacity,omitempty" json:"Opacity,omitempty"`
	Target           string `yaml:"target,omitempty" json:"Target,omitempty"`
}

// Audio holds a preset's audio settings.
type Audio struct {
	Codec            string             `yaml:"codec,omitempty" json:"Codec,omitempty"`
	SampleRate       string             `yaml:"sample_rate,omitempty" json:"SampleRate,omitempty"`
	BitRate          string             `yaml:"bit_rate,omitempty" json:"BitRate,omitempty"`
	Channels         string             `yaml:"channels,omitempty" json:"Channels,omitempty"`
	AudioPackingMode string             `yaml:"audio_packing_mode,omitempty" json:"AudioPackingMode,omitempty"`
	CodecOptions     *AudioCodecOptions `yaml:"codec_options,omitempty" json:"CodecOptions,omitempty"`
}

// AudioCodecOptions are Elastic Transcoder's Audio.CodecOptions.
type AudioCodecOptions struct {
	Profile  string `yaml:"profile,omitempty" json:"Profile,omitempty"`
	BitDepth string `yaml:"bit_depth,omitempty" json:"BitDepth,omitempty"`
	BitOrder string `yaml:"bit_order,omitempty" json:"BitOrder,omitempty"`
	Signed   string `yaml:"signed,omitempty" json:"Signed,omitempty"`
}

// Thumbnails holds how a preset's thumbnails are made.
type Thumbnails struct {
	Format   string `yaml:"format,omitempty" json:"Format,omitempty"`
	Interval string `yaml:"interval,omitempty" json:"Interval,omitempty"`
	// Resolution and AspectRatio are legacy; they exclude MaxWidth,
	// MaxHeight, SizingPolicy and PaddingPolicy.
	Resolution    string `yaml:"resolution,omitempty" json:"Resolution,omitempty"`
	AspectRatio   string `yaml:"aspect_ratio,omitempty" json:"AspectRatio,omitempty"`
	MaxWidth      string `yaml:"max_width,omitempty" json:"MaxWidth,omitempty"`
	MaxHeight     string `yaml:"max_height,omitempty" json:"MaxHeight,omitempty"`
	SizingPolicy  string `yaml:"sizing_policy,omitempty" json:"SizingPolicy,omitempty"`
	PaddingPolicy string `yaml:"padding_policy,omitempty" json:"PaddingPolicy,omitempty"`
}

// IsLadder reports whether the preset is an adaptive-streaming ladder.
func (p *Preset) IsLadder() bool { return len(p.Ladder) > 0 }

// Alias returns the preset's first alias, or its ID when it has none.
func (p *Preset) Alias() string {
	if len(p.Aliases) > 0 {
		return p.Aliases[0]
	}
	return p.ID
}

// Clone returns a deep copy, so that callers of a registry cannot change
// the presets it holds.
func (p *Preset) Clone() *Preset {
	c := *p
	if p.Video != nil {
		v := *p.Video
		if v.CodecOptions != nil {
			o := *v.CodecOptions
			v.CodecOptions = &o
		}
		v.Watermarks = append([]Watermark(nil), v.Watermarks...)
		c.Video = &v
	}
	if p.Audio != nil {
		a := *p.Audio
		if a.CodecOptions != nil {
			o := *a.CodecOptions
			a.CodecOptions = &o
		}
		c.Audio = &a
	}
	if p.Thumbnails != nil {
		t := *p.Thumbnails
		c.Thumbnails = &t
	}
	c.Aliases = append([]string(nil), p.Aliases...)
	c.Ladder = append([]string(nil), p.Ladder...)
	return &c
}

// ParseJSON reads one preset in Elastic Transcoder's JSON shape
// (PascalCase keys, every value a string). Unknown fields are refused, so
// that a misspelt setting is not silently dropped. It does not validate.
func ParseJSON(data []byte) (*Preset, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	p := new(Preset)
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("preset JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("preset JSON: unexpected data after the preset")
	}
	return p, nil
}
