package io.ambientctl.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.testing.Kernel;

/** Loading the embedded object, pinning maps and reusing them, typed map access. Real kernel. */
class BpfObjectKernelTest {
    private Path pins;

    @BeforeEach
    void setUp() throws Exception {
        Kernel.require();
        pins = Kernel.bpffsDir("actest-obj");
    }

    @AfterEach
    void tearDown() {
        Kernel.removeTree(pins);
    }

    static byte[] u32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(v).array();
    }

    static byte[] u64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putLong(v).array();
    }

    static long u64(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.nativeOrder()).getLong();
    }

    @Test
    void pinnedMapsAreReusedBySecondLoadWithTheirContents() {
        try (BpfObject first = BpfObject.openResource("selftest.bpf.o").pinMaps(pins).load()) {
            BpfMap stats = first.map("selftest_stats");
            assertThat(stats.type()).isEqualTo(MapType.HASH);
            assertThat(stats.keySize()).isEqualTo(4);
            assertThat(stats.valueSize()).isEqualTo(8);
            stats.put(u32(6), u64(42));
        }
        assertThat(pins.resolve("selftest_stats")).exists();
        assertThat(pins.resolve("selftest_config")).exists();

        try (BpfObject second = BpfObject.openResource("selftest.bpf.o").pinMaps(pins).load()) {
            BpfMap stats = second.map("selftest_stats");
            assertThat(stats.lookup(u32(6))).map(BpfObjectKernelTest::u64).contains(42L);
            try (BpfMap viaPin = BpfMap.openPinned(pins.resolve("selftest_stats"))) {
                assertThat(viaPin.id()).isEqualTo(stats.id());
                assertThat(viaPin.name()).isEqualTo("selftest_stats");
            }
        }
    }

    @Test
    void fillsAndIteratesAMapOfThousandsOfEntries() {
        try (BpfObject obj = BpfObject.openResource("selftest.bpf.o").load()) {
            TypedMap<Integer, Long> stats = new TypedMap<>(obj.map("selftest_stats"), Codecs.U32, Codecs.U64);
            for (int i = 0; i < 5000; i++) {
                stats.put(i, (long) i * 3);
            }
            var all = stats.entries(); // in batches (BPF_MAP_LOOKUP_BATCH)
            assertThat(all).hasSize(5000);
            assertThat(stats.raw().readsInBatches()).isTrue(); // this kernel batches hash maps: no fallback taken
            // as read key by key (get_next_key, lookup)
            java.util.Map<Integer, Long> byKey = new java.util.HashMap<>();
            for (byte[] k : stats.raw().keys()) {
                int key = Codecs.U32.decode(k);
                byKey.put(key, stats.get(key).orElseThrow());
            }
            assertThat(all).containsExactlyInAnyOrderEntriesOf(byKey);
            // an array reads in batches too: every index, zeroed or not
            assertThat(obj.map("selftest_config").entries()).hasSize(1);
            Set<Integer> keys = new HashSet<>(all.keySet());
            assertThat(keys).contains(0, 2500, 4999);
            assertThat(all.get(4321)).isEqualTo(4321L * 3);
            assertThat(stats.delete(4321)).isTrue();
            assertThat(stats.delete(4321)).isFalse();
            assertThat(stats.get(4321)).isEmpty();
            assertThat(stats.raw().keys()).hasSize(4999);
        }
    }

    @Test
    void aPinWithAnotherLayoutFailsTheLoadWithANamedError() throws Exception {
        try (BpfObject obj = BpfObject.openResource("selftest.bpf.o").load()) {
            obj.map("selftest_config").pin(pins.resolve("selftest_stats")); // wrong map at the stats pin
        }
        assertThatThrownBy(() -> {
            try (BpfObject o = BpfObject.openResource("selftest.bpf.o").pinMaps(pins).load()) {
                o.map("selftest_stats");
            }
        }).isInstanceOf(BpfException.class)
                .hasMessageContaining("bpf_object__load")
                .satisfies(e -> assertThat(((BpfException) e).errno()).isEqualTo(Errno.EINVAL));
    }

    @Test
    void updateWithTheWrongSizeIsRefusedBeforeTheKernel() {
        try (BpfObject obj = BpfObject.openResource("selftest.bpf.o").load()) {
            BpfMap stats = obj.map("selftest_stats");
            assertThatThrownBy(() -> stats.put(new byte[3], u64(1))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("selftest_stats");
        }
    }

    @Test
    void missingPinSaysWhatAndWhere() {
        Path nowhere = pins.resolve("nope");
        assertThat(Files.exists(nowhere)).isFalse();
        assertThatThrownBy(() -> BpfMap.openPinned(nowhere)).isInstanceOf(BpfException.class)
                .hasMessageContaining("bpf_obj_get").hasMessageContaining(nowhere.toString())
                .hasMessageContaining("ENOENT");
    }

    @Test
    void programInfoNamesTheProgram() {
        try (BpfObject obj = BpfObject.openResource("selftest.bpf.o").load()) {
            ProgramInfo info = obj.program("selftest_count").info();
            assertThat(info.name()).isEqualTo("selftest_count");
            assertThat(info.id()).isPositive();
            assertThat(info.tag()).hasSize(16);
            assertThat(ProgramInfo.ofId(info.id()).tag()).isEqualTo(info.tag());
        }
    }
}
