package dev.tidemark.peers;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * Tidemark's {@code count} pipeline in Kafka Streams: for every input
 * record, the record's key and the key's new count as a decimal value,
 * exactly once (processing.guarantee exactly_once_v2).
 *
 * <p>A processor with a persistent (RocksDB) KeyValueStore&lt;Bytes,
 * Long&gt;, no record cache (statestore.cache.max.bytes 0, so every record
 * is emitted), commit.interval.ms --interval-ms, --threads stream threads,
 * state in --dir. The application id --id names the consumer group, the
 * transactional ids and the store's changelog topic, from which a new
 * process restores the state.
 *
 * <p>It prints "peerbench: ready" to standard output when the application
 * first reaches RUNNING (partitions assigned, state restored).
 */
public final class StreamsCount {
    private StreamsCount() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Args.parse(argv, "brokers", "in", "out", "dir", "id");
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.get("id"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("brokers"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.parseLong(a.getOrDefault("interval-ms", "1000")));
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(a.getOrDefault("threads", "2")));
        p.put(StreamsConfig.STATE_DIR_CONFIG, a.get("dir"));
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        StreamsBuilder b = new StreamsBuilder();
        b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("counts"), Serdes.Bytes(), Serdes.Long()));
        b.stream(a.get("in"), Consumed.with(Serdes.Bytes(), Serdes.Bytes()))
                .process(Count::new, "counts")
                .to(a.get("out"), Produced.with(Serdes.Bytes(), Serdes.ByteArray()));

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) {
                System.out.println("peerbench: ready");
                System.out.flush();
            }
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                done.countDown();
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(streams::close));
        streams.start();
        done.await();
        if (streams.state() == KafkaStreams.State.ERROR) {
            System.err.println("peerbench: Kafka Streams failed (state ERROR)");
            System.exit(1);
        }
    }

    /** key → the key's count so far, per record. */
    static final class Count implements Processor<Bytes, Bytes, Bytes, byte[]> {
        private ProcessorContext<Bytes, byte[]> ctx;
        private KeyValueStore<Bytes, Long> counts;

        @Override
        public void init(ProcessorContext<Bytes, byte[]> ctx) {
            this.ctx = ctx;
            this.counts = ctx.getStateStore("counts");
        }

        @Override
        public void process(Record<Bytes, Bytes> rec) {
            Long n = counts.get(rec.key());
            long next = n == null ? 1 : n + 1;
            counts.put(rec.key(), next);
            ctx.forward(rec.withValue(Long.toString(next).getBytes(StandardCharsets.US_ASCII)));
        }
    }
}
