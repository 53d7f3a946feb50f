import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.errors.GroupIdNotFoundException;

/**
 * Readiness probe used by stack.sh: waits until the broker at BOOTSTRAP answers metadata
 * requests (describeCluster lists at least one broker, which a KRaft broker only does once
 * it has caught up with the metadata log and been unfenced) and a listTopics round trip.
 * One JVM retries in a loop, which is much faster than starting a tool per attempt.
 * With --group-coordinator it then also waits until the group coordinator answers
 * (describeConsumerGroups), which creates and loads __consumer_offsets, so the first
 * consumer group of a test run does not pay for that.
 *
 * Usage: java -cp 'libs/*:probe' KafkaReady BOOTSTRAP TIMEOUT_SECONDS [--group-coordinator]
 * Exit 0 when ready, printing "metadataReadyAt=<epoch ms when metadata was answered>" and
 * "clusterId=... nodes=..." on stdout; exit 1 on timeout.
 */
public final class KafkaReady {
    /** Per-call timeout: 3 s, but never much past the overall deadline. */
    private static int callTimeoutMs(long deadlineNanos) {
        long left = TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
        return (int) Math.max(500, Math.min(3000, left));
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 3
                || (args.length == 3 && !args[2].equals("--group-coordinator"))) {
            System.err.println("usage: KafkaReady BOOTSTRAP TIMEOUT_SECONDS [--group-coordinator]");
            System.exit(2);
        }
        boolean waitForGroupCoordinator = args.length == 3;
        String bootstrap = args[0];
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));

        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "hitl-stack-ready");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "250");
        props.put(AdminClientConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MS_CONFIG, "1000");
        props.put(AdminClientConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS_CONFIG, "1000");
        props.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        props.put(AdminClientConfig.RETRY_BACKOFF_MAX_MS_CONFIG, "250");

        Throwable last = null;
        try (Admin admin = Admin.create(props)) {
            String ready = null;
            while (ready == null) {
                try {
                    DescribeClusterResult cluster = admin.describeCluster(
                            new DescribeClusterOptions().timeoutMs(callTimeoutMs(deadline)));
                    Collection<Node> nodes = cluster.nodes().get();
                    String clusterId = cluster.clusterId().get();
                    if (!nodes.isEmpty()) {
                        admin.listTopics(new ListTopicsOptions()
                                .timeoutMs(callTimeoutMs(deadline)).listInternal(true)).names().get();
                        ready = "clusterId=" + clusterId + " nodes=" + nodes;
                        continue;
                    }
                    last = new IllegalStateException("describeCluster returned no brokers yet");
                } catch (Exception e) {
                    last = e.getCause() != null ? e.getCause() : e;
                }
                if (System.nanoTime() > deadline) {
                    System.err.println("kafka at " + bootstrap + " not ready: " + last);
                    System.exit(1);
                }
                Thread.sleep(200);
            }
            long metadataReadyAt = System.currentTimeMillis();
            while (waitForGroupCoordinator) {
                try {
                    admin.describeConsumerGroups(List.of("hitl-stack-ready"),
                            new DescribeConsumerGroupsOptions().timeoutMs(callTimeoutMs(deadline))).all().get();
                    break;
                } catch (Exception e) {
                    last = e.getCause() != null ? e.getCause() : e;
                    if (last instanceof GroupIdNotFoundException) {
                        break; // the coordinator answered: it just does not know the group
                    }
                }
                if (System.nanoTime() > deadline) {
                    System.err.println("kafka at " + bootstrap + " group coordinator not ready: " + last);
                    System.exit(1);
                }
                Thread.sleep(100);
            }
            System.out.println("metadataReadyAt=" + metadataReadyAt);
            System.out.println(ready);
        }
    }
}
