// keygate-fuzz: libFuzzer targets for Keygate's parsers of outside input.
//
// Built two ways:
// - for fuzzing (`make fuzz`): swift build -Xswiftc -sanitize=fuzzer,address
//   -Xswiftc -DKEYGATE_FUZZ; libFuzzer drives LLVMFuzzerTestOneInput and
//   KEYGATE_FUZZ_TARGET picks the target;
// - normally: `keygate-fuzz TARGET FILE...` runs each file through the
//   target once, which is how `make test` replays the committed corpora.

@_cdecl("LLVMFuzzerTestOneInput")
public func keygateFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTargets.run(FuzzTargets.selected, Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !KEYGATE_FUZZ
@main
struct Replay {
    static func main() { FuzzTargets.replay(CommandLine.arguments) }
}
#endif

#if KEYGATE_FUZZ
// SwiftPM links an executable's entry point under the name
// `<product>_main`; in the fuzzing build that entry hands over to libFuzzer.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("keygate_fuzz_main")
func keygateFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var count = argc
    var vector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in
        keygateFuzzOne(data ?? UnsafePointer(bitPattern: 1)!, size)
    }
}
#endif
