// Only the header matters (cfuzz.h); SwiftPM needs one source file in a C target.
