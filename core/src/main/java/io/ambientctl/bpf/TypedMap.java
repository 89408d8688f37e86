package io.ambientctl.bpf;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** A {@link BpfMap} seen through codecs for its keys and values. */
public final class TypedMap<K, V> {
    private final BpfMap map;
    private final Codec<K> keys;
    private final Codec<V> values;

    public TypedMap(BpfMap map, Codec<K> keys, Codec<V> values) {
        if (keys.size() != map.keySize()) {
            throw new IllegalArgumentException("map " + map.name() + " has " + map.keySize()
                    + "-byte keys; the codec writes " + keys.size());
        }
        if (values.size() != map.valueBufferSize()) {
            throw new IllegalArgumentException("map " + map.name() + " has " + map.valueBufferSize()
                    + "-byte values; the codec writes " + values.size());
        }
        this.map = map;
        this.keys = keys;
        this.values = values;
    }

    public BpfMap raw() {
        return map;
    }

    public Optional<V> get(K key) {
        return map.lookup(keys.encode(key)).map(values::decode);
    }

    public void put(K key, V value) {
        map.put(keys.encode(key), values.encode(value));
    }

    public void update(K key, V value, long flags) {
        map.update(keys.encode(key), values.encode(value), flags);
    }

    public boolean delete(K key) {
        return map.delete(keys.encode(key));
    }

    /** All entries in the kernel's iteration order. */
    public Map<K, V> entries() {
        Map<K, V> out = new LinkedHashMap<>();
        for (BpfMap.Entry e : map.entries()) {
            out.put(keys.decode(e.key()), values.decode(e.value()));
        }
        return out;
    }
}
