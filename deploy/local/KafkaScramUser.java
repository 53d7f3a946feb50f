import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

/**
 * Creates or replaces a SCRAM-SHA-512 login on a running broker, used by `stack.sh scram-user`.
 * Through the Admin API (alterUserScramCredentials) rather than `kafka-storage format
 * --add-scram`, which works only on a data dir not yet formatted. The password is read from
 * stdin so that it never shows in a process list.
 *
 * Usage: echo PASSWORD | java -cp 'libs/*:probe' KafkaScramUser BOOTSTRAP USER
 * Exit 0 once the controller has applied the credential; 1 on failure, 2 on bad usage.
 */
public final class KafkaScramUser {
    public static void main(String[] args) throws Exception {
        if (args.length != 2 || args[1].isEmpty()) {
            System.err.println("usage: echo PASSWORD | KafkaScramUser BOOTSTRAP USER");
            System.exit(2);
        }
        String password = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))
                .readLine();
        if (password == null || password.isEmpty()) {
            System.err.println("KafkaScramUser: no password on stdin");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "hitl-stack-scram-user");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        try (Admin admin = Admin.create(props)) {
            // 4096: Kafka's default and minimum iteration count for SCRAM-SHA-512.
            ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096);
            admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(args[1], info, password)))
                    .all()
                    .get(20, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.err.println("KafkaScramUser: " + (e.getCause() != null ? e.getCause() : e));
            System.exit(1);
        }
        System.out.println("scram-sha-512 user " + args[1]);
    }
}
