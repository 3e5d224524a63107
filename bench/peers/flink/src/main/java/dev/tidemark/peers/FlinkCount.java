package dev.tidemark.peers;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Tidemark's {@code count} pipeline in Apache Flink's DataStream API: for
 * every input record, the record's key and the key's new count as a decimal
 * value, exactly once.
 *
 * <p>A KafkaSource (read_committed, from the earliest offset), keyBy the
 * record key, a KeyedProcessFunction with a ValueState&lt;Long&gt; in the
 * RocksDB state backend, and a KafkaSink with
 * DeliveryGuarantee.EXACTLY_ONCE. Incremental RocksDB checkpoints every
 * --interval-ms into --dir/checkpoints, retained so that a new process given
 * --restore resumes from the latest one. The job runs in this JVM's
 * MiniCluster (a local environment of --parallelism slots).
 *
 * <p>It prints "peerbench: ready" to standard output when the first count
 * task has opened (its state restored).
 */
public final class FlinkCount {
    private FlinkCount() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Args.parse(argv, "brokers", "in", "out", "dir", "id");
        String brokers = a.get("brokers"), in = a.get("in"), out = a.get("out"), id = a.get("id");
        File dir = new File(a.get("dir")).getAbsoluteFile();
        int parallelism = Integer.parseInt(a.getOrDefault("parallelism", "2"));
        long intervalMs = Long.parseLong(a.getOrDefault("interval-ms", "1000"));

        File checkpoints = new File(dir, "checkpoints");
        Map<String, String> c = new HashMap<>();
        c.put("state.backend.type", "rocksdb");
        c.put("execution.checkpointing.incremental", "true");
        c.put("execution.checkpointing.dir", checkpoints.toURI().toString());
        c.put("execution.checkpointing.interval", intervalMs + " ms");
        c.put("execution.checkpointing.mode", "EXACTLY_ONCE");
        c.put("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
        c.put("state.backend.rocksdb.localdir", new File(dir, "rocksdb").getPath());
        c.put("io.tmp.dirs", new File(dir, "tmp").getPath());
        if (a.containsKey("restore")) {
            File latest = latestCheckpoint(checkpoints);
            if (latest != null) {
                c.put("execution.state-recovery.path", latest.toURI().toString());
                System.err.println("peerbench: restoring from " + latest);
            }
        }
        new File(dir, "tmp").mkdirs();
        Configuration conf = Configuration.fromMap(c);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);

        KafkaSource<String> source = KafkaSource.<String>builder()
                .setBootstrapServers(brokers)
                .setTopics(in)
                .setGroupId(id)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setProperty("isolation.level", "read_committed")
                .setDeserializer(new KeyOnly())
                .build();
        KafkaSink<Tuple2<String, Long>> sink = KafkaSink.<Tuple2<String, Long>>builder()
                .setBootstrapServers(brokers)
                .setRecordSerializer(new KeyCount(out))
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(id)
                .setProperty("transaction.timeout.ms", "60000")
                .build();

        env.fromSource(source, WatermarkStrategy.noWatermarks(), "kafka-in")
                .keyBy(k -> k, Types.STRING)
                .process(new Count())
                .returns(Types.TUPLE(Types.STRING, Types.LONG))
                .sinkTo(sink);
        env.execute("peerbench-count");
    }

    /** The newest retained checkpoint under dir (dir/JOB/chk-N with a _metadata file), or null. */
    static File latestCheckpoint(File dir) {
        File best = null;
        long bestTime = Long.MIN_VALUE;
        File[] jobs = dir.listFiles(File::isDirectory);
        if (jobs == null) {
            return null;
        }
        for (File job : jobs) {
            File[] chks = job.listFiles(f -> f.isDirectory() && f.getName().startsWith("chk-"));
            if (chks == null) {
                continue;
            }
            for (File chk : chks) {
                File meta = new File(chk, "_metadata");
                if (meta.isFile() && meta.lastModified() >= bestTime) {
                    bestTime = meta.lastModified();
                    best = chk;
                }
            }
        }
        return best;
    }

    /** The record key as a String (ISO-8859-1: byte for byte). */
    static final class KeyOnly implements KafkaRecordDeserializationSchema<String> {
        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> rec, Collector<String> out) {
            out.collect(new String(rec.key(), StandardCharsets.ISO_8859_1));
        }

        @Override
        public TypeInformation<String> getProducedType() {
            return Types.STRING;
        }
    }

    /** key → the key's count so far, per record. */
    static final class Count extends KeyedProcessFunction<String, String, Tuple2<String, Long>> {
        private static final AtomicBoolean READY = new AtomicBoolean();
        private transient ValueState<Long> count;

        @Override
        public void open(OpenContext ctx) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            if (READY.compareAndSet(false, true)) {
                System.out.println("peerbench: ready");
                System.out.flush();
            }
        }

        @Override
        public void processElement(String key, Context ctx, Collector<Tuple2<String, Long>> out) throws Exception {
            Long n = count.value();
            long next = n == null ? 1 : n + 1;
            count.update(next);
            out.collect(Tuple2.of(key, next));
        }
    }

    /** (key, count) → a record with the key and the count in decimal, partitioned by key. */
    static final class KeyCount implements KafkaRecordSerializationSchema<Tuple2<String, Long>> {
        private final String topic;

        KeyCount(String topic) {
            this.topic = topic;
        }

        @Override
        public ProducerRecord<byte[], byte[]> serialize(Tuple2<String, Long> kc, KafkaSinkContext ctx, Long timestamp) {
            return new ProducerRecord<>(topic, kc.f0.getBytes(StandardCharsets.ISO_8859_1),
                    Long.toString(kc.f1).getBytes(StandardCharsets.US_ASCII));
        }
    }
}
