import KilnTask
import Testing

@Suite struct TunableSpaceTests {
    let source = """
        // kiln:tunable BLOCK 32 16 64
        //   kiln:tunable THREADS 2 1
        // kiln:flags -O3 -march=native -ffast-math | -O2
        void f(void) {}
        """

    @Test("reads tunables and flag sets; the first value is the default")
    func parses() throws {
        let space = try TunableSpace.parse(source: source, file: "c.c")
        #expect(space.tunables.map(\.name) == ["BLOCK", "THREADS"])
        #expect(space.flagSets == [["-O3", "-march=native", "-ffast-math"], ["-O2"]])
        #expect(space.size == 12)
        let configuration = space.defaultConfiguration
        #expect(configuration.defines == ["-DBLOCK=32", "-DTHREADS=2"])
        #expect(configuration.flagSet == 0)
    }

    @Test("settings override defaults and are checked against declared values")
    func settings() throws {
        let space = try TunableSpace.parse(source: source, file: "c.c")
        let configuration = try space.configuration(settings: ["BLOCK=64"], flagSet: 1)
        #expect(configuration.values["BLOCK"] == "64")
        #expect(configuration.flagSet == 1)
        #expect(throws: TaskError.self) { try space.configuration(settings: ["BLOCK=7"]) }
        #expect(throws: TaskError.self) { try space.configuration(settings: ["NOPE=1"]) }
        #expect(throws: TaskError.self) { try space.configuration(settings: [], flagSet: 2) }
    }

    @Test(
        "malformed declarations are diagnosed with their line",
        arguments: [
            ("// kiln:tunable\n", 1),
            ("\n// kiln:tunable 9X 1\n", 2),
            ("// kiln:flags -O2 | -fplugin=x.so\n", 1),
            ("// kiln:flags -O2 -Wl,--wrap=clock_gettime\n", 1),
            ("// kiln:tunable A 1\n// kiln:tunable A 2\n", 2),
        ]
    )
    func malformed(source: String, line: Int) throws {
        let error = try #require(throws: TaskError.self) { try TunableSpace.parse(source: source, file: "c.c") }
        #expect(error.code == .invalidConfiguration)
        #expect(error.diagnostics.first?.line == line)
    }

    @Test(
        "only code-generation flags are allowed",
        arguments: [
            ("-O3", true), ("-march=native", true), ("-ffast-math", true), ("-funroll-loops", true),
            ("-mavx2", true), ("-DX=1", true), ("-fplugin=a.so", false), ("-Wl,-z,now", false),
            ("-include/etc/passwd", false), ("-B/tmp", false), ("@opts", false), ("-fprofile-generate", false),
            ("-o", false), ("-lm", false),
        ]
    )
    func flagPolicy(flag: String, allowed: Bool) {
        #expect((FlagPolicy.problem(with: [flag]) == nil) == allowed)
    }
}
