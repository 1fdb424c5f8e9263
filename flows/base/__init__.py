"""The shared vocabulary: inputs and replies, named errors, text helpers, content loading."""
